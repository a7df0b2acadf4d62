//! Engine tests: every transition of DESIGN.md section 2, every refusal, and properties.

mod cancel;
mod lifecycle;
mod matching;
mod properties;
mod queries;
mod replies;
mod restore;
mod retry;
mod rollout;
mod support;
mod timeouts;
mod windows;
