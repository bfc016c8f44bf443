//! Nacre's model: the events every change is recorded as, and the pure fold from events to
//! state (DESIGN invariant 3). Nothing here does I/O or waits: this crate depends on no async
//! runtime and no NATS or HTTP library, so the compiler keeps the fold pure. The in-memory read
//! model, the KV projector, `nacre verify`, time travel and the tests all fold with
//! [`state::State::apply`].
//!
//! One module per concept, each with its state, its part of the fold and its validation:
//! configs, namespaces, the naming registry, Consul KV, sessions and transactions, users and
//! permissions (`auth`), Consul ACLs, packages. Beside them: the events and their subjects
//! (`event`), the name encoding (`names`), the limits table (`limits`), input validation
//! (`validate`) and the one error type (`error`).

pub mod acl;
pub mod auth;
pub mod configs;
pub mod error;
pub mod event;
pub mod kv;
pub mod limits;
pub mod names;
pub mod namespaces;
pub mod naming;
pub mod packages;
pub mod page;
pub mod registry;
pub mod sessions;
pub mod state;
pub mod txn;
pub mod validate;

pub use error::CoreError;
pub use page::Page;
