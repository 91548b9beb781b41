//! `citewatch ack`.

use std::path::Path;

use crate::cli::AckArgs;
use crate::error::{CommandError, Exit};

/// Moves acknowledged statements' baselines to the latest snapshot.
pub fn ack(_root: &Path, _args: &AckArgs) -> Result<Exit, CommandError> {
    Err(CommandError::Usage("ack is not built yet".into()))
}
