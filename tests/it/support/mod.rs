//! Test support: a temp workspace, a loopback page server and a loopback SMTP server.

#![allow(dead_code)]

pub mod archive;
pub mod http;
pub mod smtp;
pub mod store;
pub mod workspace;

pub use http::{PageServer, Response};
pub use workspace::Workspace;
