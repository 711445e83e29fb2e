//! Data sovereignty for tierlm: find sensitive values in a request before anything
//! leaves the premises, replace them with typed placeholders and restore them in the
//! answer, keep requests local or refuse them by policy, and record every egress on a
//! tamper-evident hash chain.
//!
//! - [`chat`]: the walk over a chat request, its redacted copy, restoring answers;
//! - [`entity`]: what a detector finds;
//! - [`detect`]: the detectors (structured identifiers with checksums, secrets, names
//!   and addresses, per-tenant patterns and keywords);
//! - [`redact`]: reversible redaction, including restoration of streamed answers;
//! - [`json_text`]: `\uXXXX` escapes in JSON texts spelled out before scanning;
//! - [`pseudonym`]: keyed pseudonyms for `user` and `metadata` values;
//! - [`policy`]: `allow` / `redact` / `local_only` / `block` per entity type, tenant, key;
//! - [`audit`]: the egress audit chain, its verification and export.

pub mod audit;
pub mod chat;
pub mod detect;
pub mod entity;
pub mod json_text;
pub mod policy;
pub mod pseudonym;
pub mod redact;

pub use entity::{Entity, EntityKind};
