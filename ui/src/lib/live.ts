// A deployment as its view follows it: the snapshot from `deployment_detail` joined with the
// live batches of `deployment_watch`. The view subscribes before it asks for the snapshot (so
// nothing falls between them), so batches arrive both before the snapshot and after it, and
// either kind may hold transitions the snapshot already contains.
import type { DeploymentDetail } from "../bindings/DeploymentDetail";
import type { Transition } from "../bindings/Transition";
import { TargetStore } from "./targets";
import { Timeline } from "./timeline";

export class DeploymentLive {
  store = new TargetStore();
  timeline: Timeline;
  /** Batches that came before the snapshot; null once it is in. */
  private early: Transition[] | null = [];

  constructor(now = Date.now()) {
    this.timeline = new Timeline(now);
  }

  /** A live batch: applied now, or held until the snapshot. True if applied. */
  batch(transitions: readonly Transition[]): boolean {
    if (this.early) {
      this.early.push(...transitions);
      return false;
    }
    this.store.apply(transitions);
    this.timeline.addTransitions(transitions);
    return true;
  }

  /**
   * The snapshot: replaces rows and timeline, then applies what came before it. The store
   * skips what is older than a row; the timeline counts a transition only if the snapshot
   * has not (so an early ack of a target the snapshot shows completed still counts).
   */
  snapshot(detail: DeploymentDetail) {
    const early = this.early ?? [];
    this.early = null;
    this.store = new TargetStore(detail.targets);
    this.timeline = new Timeline(detail.summary.created_at);
    this.timeline.seed(detail.summary.deployment_id, detail.targets);
    this.store.apply(early);
    this.timeline.addTransitions(early);
  }
}
