//! `citewatch daemon`: the scheduler loop, signal handling and the control endpoint,
//! all calling [`crate::run::run_check`].
