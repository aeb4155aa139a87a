//! Configuration: a strict YAML document, parsed once, validated without I/O.

pub mod duration;
