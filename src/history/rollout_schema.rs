//! Migration 3: each deployment's rollout policy and where it stands with it (JSON, as the
//! engine saves them), and the rollout's history: the plan, every wave start, pause and
//! resume. Deployments from before keep NULL, read as the default policy (all at once).

pub(super) const SQL: &str = r#"
    ALTER TABLE deployments ADD COLUMN policy TEXT;
    ALTER TABLE deployments ADD COLUMN control TEXT;

    CREATE TABLE rollout_events (
        id            INTEGER PRIMARY KEY,
        deployment_id TEXT NOT NULL,
        at            INTEGER NOT NULL,
        -- 'planned', 'wave_started', 'paused', 'resumed'
        kind          TEXT NOT NULL,
        -- the whole event as JSON (waves of a plan, the wave, the pause's reason)
        detail        TEXT NOT NULL
    );
    CREATE INDEX rollout_events_by_deployment ON rollout_events(deployment_id, id);
"#;
