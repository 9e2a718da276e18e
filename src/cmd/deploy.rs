//! `tally deploy`: render the CloudFormation templates from the workspace's definitions, lint
//! them, and (without `--dry-run`) build the Lambdas and deploy both stacks.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use tally_archive::ArchiveConfig;
use tally_deploy::{ArchiveSpec, NamedQuery, Options, Sources, Templates, lint};

/// The enrichment state machine, with its `${Name}` placeholders.
pub const STATE_MACHINE: &str = include_str!("../../state-machines/enrich.asl.json");

/// `tally deploy` arguments.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Only render and lint the templates and the dashboard, into `--out`.
    #[arg(long)]
    pub dry_run: bool,
    /// Where `--dry-run` writes `templates/{pipeline,edge}.json` and `grafana/tally.json`.
    #[arg(long, default_value = "deploy")]
    pub out: PathBuf,
    /// The home region of the pipeline stack (the edge stack always goes to us-east-1); the
    /// SDK's default chain otherwise.
    #[arg(long)]
    pub region: Option<String>,
    /// The pipeline stack's name; the edge stack is `{prefix}-edge`. Resource names start with it.
    #[arg(long, default_value = "tally")]
    pub stack_prefix: String,
    /// Days archived events are kept.
    #[arg(long, default_value_t = 400)]
    pub retention_days: u32,
    /// Also create a CloudFront distribution in front of `--origin-domain`, with the function on
    /// origin-request.
    #[arg(long, requires = "origin_domain")]
    pub with_cloudfront: bool,
    /// The site's origin (an HTTPS host name) for `--with-cloudfront`.
    #[arg(long)]
    pub origin_domain: Option<String>,
    /// The edge configuration (site, aliases…); `tally deploy` sets its state machine ARN and
    /// region. Required without `--dry-run`.
    #[arg(long)]
    pub edge_config: Option<PathBuf>,
}

/// Everything the templates are rendered from, as this build of tally has it.
pub fn sources() -> anyhow::Result<Sources> {
    let registry = tally_schema::generate::to_file_text(&tally_schema::generate::registry_schema());
    Ok(Sources {
        declarations: crate::local::declarations(),
        state_machine: STATE_MACHINE.to_owned(),
        glue_table: tally_athena::TABLE.to_owned(),
        named_queries: tally_athena::named_queries()
            .iter()
            .map(|q| NamedQuery {
                name: q.name.to_owned(),
                sql: q.sql.to_owned(),
            })
            .collect(),
        registry_schema: registry,
        archive: ArchiveSpec::from_config(&ArchiveConfig::new("")),
    })
}

/// The options of a command line.
pub fn options(args: &DeployArgs) -> Options {
    Options {
        retention_days: args.retention_days,
        origin_domain: if args.with_cloudfront {
            args.origin_domain.clone().unwrap_or_default()
        } else {
            String::new()
        },
    }
}

/// Renders both templates and checks them: IAM and the archive's Firehose configuration.
pub fn render_checked(sources: &Sources, options: &Options) -> anyhow::Result<Templates> {
    let templates = tally_deploy::render(sources, options)?;
    let mut problems: Vec<String> = Vec::new();
    for (name, template) in [("pipeline", &templates.pipeline), ("edge", &templates.edge)] {
        problems.extend(lint::iam(template).iter().map(|p| format!("{name}: {p}")));
    }
    problems.extend(
        lint::firehose(&templates.pipeline, &sources.archive)
            .iter()
            .map(|p| format!("pipeline: {p}")),
    );
    if !problems.is_empty() {
        bail!(
            "the rendered templates fail their checks:\n{}",
            problems.join("\n")
        );
    }
    Ok(templates)
}

/// The files `--dry-run` writes, relative to `--out`, with their contents.
pub fn rendered_files(
    sources: &Sources,
    options: &Options,
) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let templates = render_checked(sources, options)?;
    let dashboard = tally_deploy::grafana::dashboard(&sources.named_queries);
    Ok(vec![
        (
            Path::new("templates").join("pipeline.json"),
            tally_deploy::to_file_text(&templates.pipeline),
        ),
        (
            Path::new("templates").join("edge.json"),
            tally_deploy::to_file_text(&templates.edge),
        ),
        (
            Path::new("grafana").join(tally_deploy::grafana::FILE),
            tally_deploy::to_file_text(&dashboard),
        ),
    ])
}

/// Runs `tally deploy`.
pub fn run(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let sources = sources()?;
    let options = options(&args);
    let files = rendered_files(&sources, &options)?;
    if args.dry_run {
        for (path, text) in &files {
            let path = args.out.join(path);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            println!("{}", path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    super::deploy_aws::deploy(&args, &sources, &options)
}
