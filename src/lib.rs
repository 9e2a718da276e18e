//! The `tally` command-line tool: the commands, and the I/O around the workspace's libraries.

pub mod aws_failed;
pub mod aws_queues;
pub mod aws_redrive;
pub mod aws_replay;
pub mod aws_status;
pub mod cmd;
pub mod local;
pub mod registry;
pub mod schema_files;
pub mod serve;
