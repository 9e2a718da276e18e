//! `tally deploy`: render the CloudFormation templates from the workspace's definitions, lint
//! them, and (without `--dry-run`) build the Lambdas and deploy the pipeline, the chosen
//! producers and, with `--with-cloudfront`, the site's distribution.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use tally_archive::ArchiveConfig;
use tally_deploy::{ArchiveSpec, NamedQuery, Options, Producer, Sources, Templates, lint};

/// The enrichment state machine, with its `${Name}` placeholders.
pub const STATE_MACHINE: &str = include_str!("../../state-machines/enrich.asl.json");

/// `tally deploy` arguments.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Only render and lint the templates and the dashboard, into `--out`.
    #[arg(long)]
    pub dry_run: bool,
    /// Where `--dry-run` writes `templates/*.json` (every stack's template, whatever the
    /// producers) and `grafana/tally.json`.
    #[arg(long, default_value = "deploy")]
    pub out: PathBuf,
    /// The home region of the pipeline and the log producers (the edge producer and the site
    /// always go to us-east-1); the SDK's default chain otherwise.
    #[arg(long)]
    pub region: Option<String>,
    /// The pipeline stack's name; the others are `{prefix}-{producer}` and `{prefix}-site`.
    /// Resource names start with it. Lower-case (the standard-log bucket is named after it).
    #[arg(long, default_value = "tally")]
    pub stack_prefix: String,
    /// Days archived events are kept.
    #[arg(long, default_value_t = 400)]
    pub retention_days: u32,
    /// How page views are counted: `realtime-logs` (the default: every view, cache hits
    /// included, seconds behind, the viewer waits for nothing), `standard-logs` (the same from
    /// the log files, minutes to an hour behind, nearly free) or `edge` (Lambda@Edge on
    /// origin-response: live, pages uncached). Repeat to deploy several; events share
    /// CloudFront's request id, so a view two producers see counts once.
    #[arg(long = "producer", default_value = "realtime-logs")]
    pub producers: Vec<Producer>,
    /// Also deploy the site: a CloudFront distribution in front of a new private S3 bucket
    /// (origin access control), with the producers on its page behaviours.
    #[arg(long)]
    pub with_cloudfront: bool,
    /// A host name of the site (repeatable); needs `--certificate-arn`.
    #[arg(long = "alias", requires = "certificate_arn")]
    pub aliases: Vec<String>,
    /// An ACM certificate in us-east-1 covering the aliases (SNI, TLS 1.2 at least).
    #[arg(long)]
    pub certificate_arn: Option<String>,
    /// The edge configuration (site, page extensions…); `tally deploy` sets its state machine
    /// ARN and region. Required for the edge producer; otherwise its site and page extensions
    /// are used when given.
    #[arg(long)]
    pub edge_config: Option<PathBuf>,
    /// An address the alarms (dead-letter and failure queues holding messages, failed
    /// executions, function errors, archive delivery) are e-mailed to; SNS asks it to confirm.
    /// Without it, subscribe to the pipeline's `AlarmTopicArn` output yourself.
    #[arg(long)]
    pub alarm_email: Option<String>,
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
        realtime_fields: tally_logs::REALTIME_FIELDS.map(String::from).to_vec(),
    })
}

/// The options of a command line.
pub fn options(args: &DeployArgs) -> Options {
    Options {
        retention_days: args.retention_days,
        aliases: args.aliases.clone(),
        certificate_arn: args.certificate_arn.clone().unwrap_or_default(),
        ..Options::default()
    }
}

/// Checks what clap cannot: the certificate's region, and a prefix S3 accepts in a bucket name.
pub fn check_args(args: &DeployArgs) -> anyhow::Result<()> {
    if let Some(arn) = &args.certificate_arn
        && !arn.starts_with("arn:aws:acm:us-east-1:")
    {
        bail!("--certificate-arn {arn:?}: CloudFront takes ACM certificates from us-east-1 only");
    }
    if let Some(email) = &args.alarm_email
        && !email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'))
    {
        bail!("--alarm-email {email:?} is not an e-mail address");
    }
    let prefix = &args.stack_prefix;
    let lower = prefix
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if prefix.is_empty() || !lower || prefix.len() > 20 {
        bail!(
            "--stack-prefix {prefix:?}: use 1-20 lower-case letters, digits and '-' (bucket names are made from it)"
        );
    }
    Ok(())
}

/// Renders every template and checks them: IAM, Lambda permissions and the archive's Firehose
/// configuration.
pub fn render_checked(sources: &Sources, options: &Options) -> anyhow::Result<Templates> {
    let templates = tally_deploy::render(sources, options)?;
    let mut problems: Vec<String> = Vec::new();
    for (name, template) in templates.all() {
        problems.extend(lint::iam(template).iter().map(|p| format!("{name}: {p}")));
        problems.extend(
            lint::permissions(template)
                .iter()
                .map(|p| format!("{name}: {p}")),
        );
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
    let mut files: Vec<(PathBuf, String)> = templates
        .all()
        .into_iter()
        .map(|(name, template)| {
            (
                Path::new("templates").join(format!("{name}.json")),
                tally_deploy::to_file_text(template),
            )
        })
        .collect();
    files.push((
        Path::new("grafana").join(tally_deploy::grafana::FILE),
        tally_deploy::to_file_text(&dashboard),
    ));
    Ok(files)
}

/// Runs `tally deploy`.
pub fn run(args: DeployArgs) -> anyhow::Result<ExitCode> {
    check_args(&args)?;
    let sources = sources()?;
    let mut options = options(&args);
    if let Some(path) = &args.edge_config {
        let (_, config) = super::deploy_steps::read_edge_config(path)?;
        options.page_extensions = config.page_extensions;
    }
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
    super::deploy_steps::deploy(&args, &sources, &options)
}
