//! `tally deploy` without `--dry-run`: build the Lambdas, deploy both stacks in order.

use std::process::ExitCode;

use tally_deploy::{Options, Sources};

use super::deploy::DeployArgs;

/// Builds the packages and deploys the pipeline stack, then the edge stack.
pub fn deploy(
    _args: &DeployArgs,
    _sources: &Sources,
    _options: &Options,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "deploying to AWS is not built yet: use --dry-run and the commands in deploy/README.md"
    )
}
