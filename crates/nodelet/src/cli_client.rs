//! The kubectl-like client commands (`apply`, `get`, `describe`, `logs`,
//! `exec`, `attach`, `delete`, `events`, `wait`): their grammar, mirroring kubectl's
//! flags, and the edge where their errors are printed the way kubectl
//! prints them. Each command's behaviour lives in `cmd/<name>.rs`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Subcommand};

use crate::client::{Client, ClientError, DEFAULT_SOCKET};

/// How to reach the running agent.
#[derive(Debug, Clone, Args)]
pub struct ConnOpts {
    /// The agent's API socket [default: <run-root>/nodelet.sock].
    #[arg(long, env = "NODELET_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Runtime state directory of the agent, where its socket lives.
    #[arg(long, env = "NODELET_RUN_ROOT", default_value = "/run/nodelet")]
    pub run_root: PathBuf,
    /// Namespace of the objects.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
}

impl ConnOpts {
    pub fn client(&self) -> Client {
        let socket = match &self.socket {
            Some(s) => s.clone(),
            None if self.run_root == std::path::Path::new("/run/nodelet") => {
                PathBuf::from(DEFAULT_SOCKET)
            }
            None => self.run_root.join("nodelet.sock"),
        };
        Client::new(socket)
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create or update objects from manifests, like `kubectl apply -f`.
    Apply(ApplyArgs),
    /// List objects or show some, like `kubectl get`.
    Get(GetArgs),
    /// Show a pod or service in detail with its events, like `kubectl describe`.
    Describe(DescribeArgs),
    /// Print a container's log, like `kubectl logs`.
    Logs(LogsArgs),
    /// Run a command in a container, like `kubectl exec`.
    Exec(ExecArgs),
    /// Attach to a running container's main process, like `kubectl attach`.
    Attach(AttachArgs),
    /// Delete objects (gracefully by default), like `kubectl delete`.
    Delete(DeleteArgs),
    /// List events, like `kubectl events`.
    Events(EventsArgs),
    /// Wait for a condition or a deletion, like `kubectl wait`.
    Wait(WaitArgs),
    /// Forward local ports to a pod (or a service's pod), like `kubectl port-forward`.
    PortForward(PortForwardArgs),
    /// Draw a pod's lifecycle timeline (`timeline pod NAME -o svg|html`).
    Timeline(TimelineArgs),
}

#[derive(Debug, Args)]
pub struct PortForwardArgs {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// `pod/NAME`, `service/NAME` (`svc/NAME`) or a pod's `NAME`.
    pub target: String,
    /// `LOCAL:REMOTE`, `PORT` (same both sides) or `:REMOTE` (any local port).
    #[arg(required = true)]
    pub ports: Vec<String>,
    /// Local addresses to listen on (comma-separated).
    #[arg(long, default_value = "localhost")]
    pub address: String,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// `pod` (the only kind with a timeline).
    #[arg(value_parser = ["pod", "pods", "po"])]
    pub kind: String,
    /// The pod's name.
    pub name: String,
    /// Output: an SVG picture or a self-contained HTML page.
    #[arg(short = 'o', long, value_parser = ["svg", "html"], default_value = "svg")]
    pub output: String,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// Manifest files (YAML or JSON, multi-document); `-` reads stdin.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// pods, events, services, endpoints, endpointslices, configmaps, secrets, namespaces, nodes (or TYPE/NAME).
    pub resource: String,
    /// Names of the objects (all when none).
    pub names: Vec<String>,
    /// Output format: wide, json, yaml or name.
    #[arg(short = 'o', long, value_parser = ["wide", "json", "yaml", "name"])]
    pub output: Option<String>,
    /// After listing, watch for changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Label selector (`app=x,tier!=db`).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// `pod` or `service` (or `TYPE/NAME`).
    pub resource: String,
    /// The object's name.
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// The pod (`NAME` or `pod/NAME`).
    pub pod: String,
    /// Container name (needed when the pod has several).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Keep streaming new output.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The previous instance of the container.
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Lines from the end to show (-1: all).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Prefix each line with its RFC 3339 timestamp.
    #[arg(long)]
    pub timestamps: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// Pass stdin to the command.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Allocate a terminal (raw mode locally, window size forwarded).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The pod (`NAME` or `pod/NAME`).
    pub pod: String,
    /// Container name (default: the first one).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// Pass stdin to the container (it needs `stdin: true`).
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Stdin is a TTY (the container needs `tty: true`).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Only print output from the remote session.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// The pod (`NAME` or `pod/NAME`).
    pub pod: String,
    /// Container name (default: the first one).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// pod, service, configmap, secret (or TYPE/NAME).
    pub resource: String,
    pub names: Vec<String>,
    /// Seconds given to the pod to stop (-1: the pod's own setting).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// Delete at once, without waiting for the containers to stop.
    #[arg(long)]
    pub force: bool,
    /// Wait until the objects are gone.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// Only events of this object (`pod/NAME`).
    #[arg(long = "for")]
    pub for_object: Option<String>,
    /// After listing, watch for new events.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Events of all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// `condition=Ready` (any pod condition, `=False` to wait for false) or `delete`.
    #[arg(long = "for", required = true)]
    pub for_what: String,
    /// Objects as `pod/NAME`.
    #[arg(required = true)]
    pub objects: Vec<String>,
    /// How long to wait (`30s`, `2m`, `1h`).
    #[arg(long, default_value = "30s")]
    pub timeout: String,
}

/// Runs a client command; server errors are printed as kubectl prints them.
pub fn run(cmd: ClientCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async move {
        use crate::cmd;
        match cmd {
            ClientCommand::Apply(a) => cmd::apply::run(&a).await,
            ClientCommand::Get(a) => cmd::get::run(&a).await,
            ClientCommand::Describe(a) => cmd::describe::run(&a).await,
            ClientCommand::Logs(a) => cmd::logs::run(&a).await,
            ClientCommand::Exec(a) => cmd::exec::run(&a).await,
            ClientCommand::Attach(a) => cmd::attach::run(&a).await,
            ClientCommand::Delete(a) => cmd::delete::run(&a).await,
            ClientCommand::Events(a) => cmd::events::run(&a).await,
            ClientCommand::Wait(a) => cmd::wait::run(&a).await,
            ClientCommand::PortForward(a) => cmd::portforward::run(&a).await,
            ClientCommand::Timeline(a) => cmd::timeline::run(&a).await,
        }
    });
    // A blocked stdin read (exec) must not keep the process alive.
    rt.shutdown_background();
    match result {
        Ok(code) => Ok(code),
        Err(e) => match e.downcast_ref::<ClientError>() {
            Some(ce) if ce.is_server_error() => {
                eprintln!("{ce}");
                Ok(ExitCode::FAILURE)
            }
            _ => Err(e),
        },
    }
}
