//! Test support: a temp workspace and a loopback page server.

#![allow(dead_code)]

pub mod http;
pub mod workspace;

pub use http::{PageServer, Response};
pub use workspace::Workspace;
