//! Migration 8: who made a deployment and on which machine (the OS user name and the host
//! name of the process that created it), for the stakeholder report. Rows from before, and
//! other operators' deployments observed on the broker, keep NULL: "not recorded".

pub(super) const SQL: &str = r#"
    ALTER TABLE deployments ADD COLUMN operator TEXT;
    ALTER TABLE deployments ADD COLUMN host TEXT;
"#;
