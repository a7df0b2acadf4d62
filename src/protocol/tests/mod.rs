//! Cross-cutting tests of the codec: the spec's examples, one test per rule of DESIGN.md
//! section 1, and properties. Unit tests of single pieces live beside them.

mod inbound_fields;
mod inbound_rules;
mod outbound_rules;
mod properties;
mod spec_conformance;
mod spec_examples;
mod support;
