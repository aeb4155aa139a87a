//! Microsoft Graph's audit log endpoints: where each stream is read, how a page is fetched
//! within the tenant's budget, how records are read without a JSON tree, and the cursor that makes
//! late and unordered records arrive exactly once. Knows nothing of Kafka.

pub mod budget;
pub mod client;
pub mod cloud;
pub mod cursor;
pub mod endpoint;
pub mod error;
pub mod keys;
pub mod origin;
pub mod pages;
pub mod record;
pub mod scan;
pub mod split;
