//! What the container's process runs, with which environment, where and as
//! whom: the pod spec's `command`/`args`/`env`/`securityContext` merged with
//! the image config exactly as Kubernetes (and containerd) combine them.
//!
//! Kept pure (the only input from the filesystem is the rootfs path for
//! user-name lookups) so the merge tables are unit-testable.

use std::path::Path;

use crate::error::{Result, RuntimeError};
use crate::types::ContainerConfig;

/// The resolved process of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessPlan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Kubernetes' command/args table:
/// neither → ENTRYPOINT+CMD; args only → ENTRYPOINT+args; command only →
/// command (CMD ignored); both → command+args.
pub fn merge_command(
    command: Option<&[String]>,
    args: Option<&[String]>,
    entrypoint: Option<&[String]>,
    cmd: Option<&[String]>,
) -> Vec<String> {
    let command = command.filter(|c| !c.is_empty());
    let args = args.filter(|a| !a.is_empty());
    match (command, args) {
        (Some(c), Some(a)) => c.iter().chain(a).cloned().collect(),
        (Some(c), None) => c.to_vec(),
        (None, Some(a)) => entrypoint.unwrap_or(&[]).iter().chain(a).cloned().collect(),
        (None, None) => entrypoint
            .unwrap_or(&[])
            .iter()
            .chain(cmd.unwrap_or(&[]))
            .cloned()
            .collect(),
    }
}

/// Image ENV overridden by the container's env, keeping the image's order
/// for the keys it defines and appending the rest in the container's order.
pub fn merge_env(image_env: &[String], container_env: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for kv in image_env {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        upsert(&mut out, k, v);
    }
    for (k, v) in container_env {
        upsert(&mut out, k, v);
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn upsert(env: &mut Vec<(String, String)>, k: &str, v: &str) {
    match env.iter_mut().find(|(ek, _)| ek == k) {
        Some(e) => e.1 = v.to_string(),
        None => env.push((k.to_string(), v.to_string())),
    }
}

/// Default PATH when neither the image nor the pod set one (containerd's).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The parts of an image config that shape the process (borrowed from the
/// image store's `ImageConfig`, kept separate so this module stays pure).
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageDefaults<'a> {
    pub entrypoint: Option<&'a [String]>,
    pub cmd: Option<&'a [String]>,
    pub env: &'a [String],
    pub working_dir: Option<&'a str>,
    pub user: Option<&'a str>,
}

/// Adds `HOSTNAME=<hostname>` unless the image or the pod already set it,
/// as containerd does for every CRI container: programs that read `$HOSTNAME`
/// instead of calling gethostname see the pod's hostname too.
pub fn add_hostname_env(env: &mut Vec<String>, hostname: &str) {
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={hostname}"));
    }
}

/// Builds the whole process plan for a container.
pub fn plan(
    config: &ContainerConfig,
    image: &ImageDefaults<'_>,
    rootfs: &Path,
) -> Result<ProcessPlan> {
    let args = merge_command(
        config.command.as_deref(),
        config.args.as_deref(),
        image.entrypoint,
        image.cmd,
    );
    if args.is_empty() {
        return Err(RuntimeError::Other(format!(
            "container {:?}: no command specified (the image has no ENTRYPOINT or CMD and the pod sets no command)",
            config.name
        )));
    }
    let mut env = merge_env(image.env, &config.env);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_string());
    }
    let cwd = config
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| {
            image
                .working_dir
                .filter(|w| !w.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "/".to_string());
    let db = UserDb::read(rootfs);
    let user = resolve_user(
        image.user,
        config.security.run_as_user,
        config.security.run_as_group,
        &db,
    )?;
    let additional_gids = additional_gids(
        user.1,
        &user.2,
        &config.security.supplemental_groups,
        config.security.supplemental_groups_strict,
    )?;
    Ok(ProcessPlan {
        args,
        env,
        cwd,
        uid: user.0,
        gid: user.1,
        additional_gids,
    })
}

/// The process's supplementary groups as containerd sets them: the primary
/// group first (`ensureAdditionalGids`), then the user's groups from the
/// image's `/etc/group` (unless `supplementalGroupsPolicy: Strict`), then
/// the pod's `supplementalGroups` and `fsGroup`; each once.
pub fn additional_gids(
    gid: u32,
    image_groups: &[u32],
    supplemental: &[i64],
    strict: bool,
) -> Result<Vec<u32>> {
    let mut out = vec![gid];
    let image = if strict { &[][..] } else { image_groups };
    for g in image.iter().copied() {
        if !out.contains(&g) {
            out.push(g);
        }
    }
    for g in supplemental {
        let g = to_id(*g, "supplementalGroups")?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    Ok(out)
}

/// `/etc/passwd` and `/etc/group` of a rootfs (empty when absent).
#[derive(Debug, Default, Clone)]
pub struct UserDb {
    /// (name, uid, gid)
    pub passwd: Vec<(String, u32, u32)>,
    /// (name, gid, members)
    pub group: Vec<(String, u32, Vec<String>)>,
}

impl UserDb {
    pub fn read(rootfs: &Path) -> UserDb {
        // A missing or unreadable file just means no names can be resolved,
        // which is an error only if a name is actually used.
        let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
        let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
        UserDb::parse(&passwd, &group)
    }

    pub fn parse(passwd: &str, group: &str) -> UserDb {
        let passwd = passwd
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 4).then_some(())?;
                Some((f[0].to_string(), f[2].parse().ok()?, f[3].parse().ok()?))
            })
            .collect();
        let group = group
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 3).then_some(())?;
                let members = f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                Some((f[0].to_string(), f[2].parse().ok()?, members))
            })
            .collect();
        UserDb { passwd, group }
    }
}

/// Resolves (uid, gid, additional gids) from the image `USER` and the pod's
/// runAsUser/runAsGroup, which win.
pub fn resolve_user(
    image_user: Option<&str>,
    run_as_user: Option<i64>,
    run_as_group: Option<i64>,
    db: &UserDb,
) -> Result<(u32, u32, Vec<u32>)> {
    let (u, g) = match image_user.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => match s.split_once(':') {
            Some((u, g)) => (Some(u), Some(g)),
            None => (Some(s), None),
        },
        None => (None, None),
    };
    let uid = match run_as_user {
        Some(id) => to_id(id, "runAsUser")?,
        None => match u {
            Some(u) => lookup_uid(u, db)?,
            None => 0,
        },
    };
    let username = db
        .passwd
        .iter()
        .find(|(_, id, _)| *id == uid)
        .map(|(n, _, _)| n.clone());
    let gid = match run_as_group {
        Some(id) => to_id(id, "runAsGroup")?,
        // An explicit image group only applies to the image's own user.
        None => match (g, run_as_user) {
            (Some(g), None) => lookup_gid(g, db)?,
            _ => db
                .passwd
                .iter()
                .find(|(_, id, _)| *id == uid)
                .map(|(_, _, gid)| *gid)
                .unwrap_or(0),
        },
    };
    let additional = match &username {
        Some(name) => db
            .group
            .iter()
            .filter(|(_, id, members)| *id != gid && members.iter().any(|m| m == name))
            .map(|(_, id, _)| *id)
            .collect(),
        None => Vec::new(),
    };
    Ok((uid, gid, additional))
}

fn to_id(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| RuntimeError::Other(format!("{what} {v} is out of range")))
}

fn lookup_uid(u: &str, db: &UserDb) -> Result<u32> {
    if let Ok(n) = u.parse() {
        return Ok(n);
    }
    db.passwd
        .iter()
        .find(|(n, _, _)| n == u)
        .map(|(_, id, _)| *id)
        .ok_or_else(|| {
            RuntimeError::Other(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        })
}

fn lookup_gid(g: &str, db: &UserDb) -> Result<u32> {
    if let Ok(n) = g.parse() {
        return Ok(n);
    }
    db.group
        .iter()
        .find(|(n, _, _)| n == g)
        .map(|(_, id, _)| *id)
        .ok_or_else(|| {
            RuntimeError::Other(format!(
                "unable to find group {g}: no matching entries in group file"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_args_table() {
        let ep = v(&["/ep"]);
        let cmd = v(&["cmd1", "cmd2"]);
        let c = v(&["/c"]);
        let a = v(&["a1"]);
        let m = |c: Option<&Vec<String>>, a: Option<&Vec<String>>| {
            merge_command(
                c.map(|x| x.as_slice()),
                a.map(|x| x.as_slice()),
                Some(&ep),
                Some(&cmd),
            )
        };
        assert_eq!(m(None, None), v(&["/ep", "cmd1", "cmd2"]));
        assert_eq!(m(None, Some(&a)), v(&["/ep", "a1"]));
        assert_eq!(m(Some(&c), None), v(&["/c"]));
        assert_eq!(m(Some(&c), Some(&a)), v(&["/c", "a1"]));
        // No entrypoint: args replace CMD.
        assert_eq!(merge_command(None, Some(&a), None, Some(&cmd)), v(&["a1"]));
        assert_eq!(
            merge_command(None, None, None, Some(&cmd)),
            v(&["cmd1", "cmd2"])
        );
    }

    #[test]
    fn env_overrides_image_keeping_order() {
        let img = v(&["PATH=/bin", "A=1", "B=2"]);
        let got = merge_env(&img, &[("B".into(), "x".into()), ("C".into(), "3".into())]);
        assert_eq!(got, v(&["PATH=/bin", "A=1", "B=x", "C=3"]));
    }

    fn db() -> UserDb {
        UserDb::parse(
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34::/:/bin/false\nbob:x:1000:1000::/home:/bin/sh\n",
            "root:x:0:\nwww-data:x:34:\nbob:x:1000:\nwheel:x:10:bob,alice\n",
        )
    }

    #[test]
    fn user_resolution() {
        let d = db();
        assert_eq!(resolve_user(None, None, None, &d).unwrap(), (0, 0, vec![]));
        assert_eq!(
            resolve_user(Some("33"), None, None, &d).unwrap(),
            (33, 34, vec![])
        );
        assert_eq!(
            resolve_user(Some("www"), None, None, &d).unwrap(),
            (33, 34, vec![])
        );
        assert_eq!(
            resolve_user(Some("bob:wheel"), None, None, &d).unwrap(),
            (1000, 10, vec![])
        );
        assert_eq!(
            resolve_user(Some("bob"), None, None, &d).unwrap(),
            (1000, 1000, vec![10])
        );
        assert_eq!(
            resolve_user(Some("5:6"), None, None, &d).unwrap(),
            (5, 6, vec![])
        );
        // runAsUser/runAsGroup win over the image USER.
        assert_eq!(
            resolve_user(Some("www"), Some(1000), None, &d).unwrap(),
            (1000, 1000, vec![10])
        );
        assert_eq!(
            resolve_user(Some("www:wheel"), Some(7), Some(8), &d).unwrap(),
            (7, 8, vec![])
        );
        assert!(resolve_user(Some("nobody"), None, None, &d).is_err());
        assert!(resolve_user(None, Some(-1), None, &d).is_err());
    }

    #[test]
    fn supplementary_groups_as_containerd() {
        // Primary first, image groups (Merge), then the pod's.
        assert_eq!(
            additional_gids(3000, &[50000], &[4000, 3000], false).unwrap(),
            [3000, 50000, 4000]
        );
        // Strict: the image's /etc/group is not consulted.
        assert_eq!(
            additional_gids(3000, &[50000], &[4000], true).unwrap(),
            [3000, 4000]
        );
        assert_eq!(additional_gids(0, &[], &[], false).unwrap(), [0]);
        assert!(additional_gids(0, &[], &[-1], false).is_err());
    }

    #[test]
    fn hostname_env_is_added_unless_set() {
        let mut env = vec!["PATH=/bin".to_string()];
        add_hostname_env(&mut env, "web-0");
        assert_eq!(env, ["PATH=/bin", "HOSTNAME=web-0"]);
        let mut env = vec!["HOSTNAME=mine".to_string()];
        add_hostname_env(&mut env, "web-0");
        assert_eq!(env, ["HOSTNAME=mine"]);
    }
}
