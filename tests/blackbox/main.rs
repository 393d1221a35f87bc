//! Black-box tests: the real `cinnabar` binary driven over TCP by raw RESP bytes, redis-cli,
//! redis-benchmark, redis-py and the `redis` crate. One file per behaviour.

mod harness;

mod bad_input;
mod blocking;
mod clients;
mod cluster;
mod config;
mod eviction;
mod expiry;
mod introspection;
mod keys;
mod lifecycle;
mod persistence;
mod protocol;
mod pubsub;
mod replication;
mod scripting;
mod strings;
mod tools;
mod transactions;
mod types;
