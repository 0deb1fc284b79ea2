//! `nodelet validate -f FILE...`: the spec layer end to end, without running
//! anything. Loads every file, defaults and validates every object, and
//! either prints what would run (pods, containers, final environment, hooks)
//! or every error of every object; exit 1 when anything is invalid.

use std::process::ExitCode;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use nodelet_spec::env::{EnvContext, container_env, expand_command};
use nodelet_spec::{Manifest, Object};

use crate::cli::ValidateArgs;
use crate::cmd::render;
use crate::manifests;

pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let Ok(manifests) = manifests::load_valid(&args.files)? else {
        return Ok(ExitCode::FAILURE);
    };
    let world = World::from(&manifests);
    match args.output.as_str() {
        "json" => print_json(&manifests, &world, &args.node_name)?,
        _ => print_text(&manifests, &world, &args.node_name),
    }
    Ok(ExitCode::SUCCESS)
}

/// The non-pod objects of the same input, which pods' environments refer to.
struct World {
    services: Vec<Service>,
    config_maps: Vec<ConfigMap>,
    secrets: Vec<Secret>,
}

impl World {
    fn from(manifests: &[Manifest]) -> World {
        let mut w = World {
            services: Vec::new(),
            config_maps: Vec::new(),
            secrets: Vec::new(),
        };
        for m in manifests {
            match &m.object {
                Object::Service(s) => w.services.push((**s).clone()),
                Object::ConfigMap(c) => w.config_maps.push((**c).clone()),
                Object::Secret(s) => w.secrets.push((**s).clone()),
                Object::Pod(_) | Object::ServiceAccount(_) => {}
            }
        }
        w
    }

    fn context<'a>(&'a self, pod: &'a Pod, node_name: &'a str) -> EnvContext<'a> {
        EnvContext {
            pod,
            services: &self.services,
            config_maps: &self.config_maps,
            secrets: &self.secrets,
            node_name,
            host_ips: &[],
            pod_ips: &[],
        }
    }
}

fn all_containers(pod: &Pod) -> Vec<(&'static str, &Container)> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| ("init container", c));
    let regular = spec.containers.iter().map(|c| ("container", c));
    init.chain(regular).collect()
}

fn print_text(manifests: &[Manifest], world: &World, node_name: &str) {
    for m in manifests {
        let Object::Pod(pod) = &m.object else {
            println!(
                "{} {}/{} ({}, document {})",
                m.object.kind(),
                manifests::object_namespace(&m.object),
                manifests::object_name(&m.object),
                m.source,
                m.index
            );
            continue;
        };
        print!("{}", render::pod_header(pod, &m.source, m.index));
        let ctx = world.context(pod, node_name);
        for (what, c) in all_containers(pod) {
            print!("{}", render::container_block(what, c));
            match container_env(&ctx, c) {
                Ok(env) => {
                    let (command, args) = expand_command(c, &env);
                    print!(
                        "{}",
                        render::process_block(command.as_deref(), args.as_deref())
                    );
                    print!("{}", render::env_block(&env));
                }
                Err(e) => println!(
                    "    environment: error: {e} (the container would not start: CreateContainerConfigError)"
                ),
            }
        }
        println!();
    }
}

fn print_json(manifests: &[Manifest], world: &World, node_name: &str) -> anyhow::Result<()> {
    let mut out = Vec::new();
    for m in manifests {
        let object = m.object.to_value()?;
        let mut containers = Vec::new();
        if let Object::Pod(pod) = &m.object {
            let ctx = world.context(pod, node_name);
            for (_, c) in all_containers(pod) {
                let entry = match container_env(&ctx, c) {
                    Ok(env) => {
                        let (command, args) = expand_command(c, &env);
                        serde_json::json!({
                            "name": c.name,
                            "command": command,
                            "args": args,
                            "env": env.iter().map(|e| serde_json::json!({"name": e.name, "value": e.value})).collect::<Vec<_>>(),
                        })
                    }
                    Err(e) => serde_json::json!({"name": c.name, "error": e.to_string()}),
                };
                containers.push(entry);
            }
        }
        out.push(serde_json::json!({
            "source": m.source,
            "index": m.index,
            "object": object,
            "containers": containers,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
