//! `pyra daemon install-service|uninstall-service [--dry-run]`: the service file that
//! starts the daemon at login (a systemd user unit, `Type=notify`; a launchd agent on
//! macOS), through the plans of `daemon::service`. Warns, with the fix, when systemd
//! lingering is off (the user's services stop at logout).

use daemon::service::{self, Os, Plan, ServiceSpec, Step, UserEnv};
use term::output;

use crate::failure::{Failure, exit};
use crate::home::Home;

fn plan(home: &Home, install: bool) -> Result<Plan, Failure> {
    let os = Os::current()
        .ok_or_else(|| Failure::failed("services are supported on Linux (systemd) and macOS (launchd)"))?;
    let exe = std::env::current_exe().map_err(|e| Failure::failed(format!("cannot find the pyra binary: {e}")))?;
    let root = std::path::absolute(&home.root).map_err(|e| Failure::failed(e.to_string()))?;
    let spec = ServiceSpec { exe, home: root, profile: None };
    let env = UserEnv::current().map_err(|e| Failure::failed(e.to_string()))?;
    let made = if install { service::install_plan(&spec, os, &env) } else { service::uninstall_plan(&spec, os, &env) };
    made.map_err(|e| Failure::failed(e.to_string()))
}

fn print_plan(plan: &Plan) {
    for step in &plan.steps {
        if let Step::Write { path, contents, .. } = step {
            output::out(&format!("# {}\n{contents}\n", path.display()));
        }
    }
    output::out("# steps:\n");
    for step in &plan.steps {
        output::out(&format!("{step}\n"));
    }
}

fn warn_linger(plan: &Plan) {
    if plan.os != Os::Linux {
        return;
    }
    if let Some(user) = service::current_user()
        && service::lingering(&user) == Some(false)
    {
        output::err(&format!("warning: {}\n", service::linger_warning(&user)));
    }
}

fn apply(plan: &Plan) -> Result<u8, Failure> {
    match service::apply(plan, true) {
        Ok(report) => {
            for step in &plan.steps {
                output::err(&format!("done: {step}\n"));
            }
            for left in &report.left {
                output::err(&format!("left to run: {left}\n"));
            }
            Ok(exit::OK)
        }
        Err(e) => {
            for left in &e.report.left {
                output::err(&format!("not done: {left}\n"));
            }
            Err(Failure::failed(format!("{}; the steps not done are listed above", e.error)))
        }
    }
}

pub fn install(home: &Home, dry_run: bool) -> Result<u8, Failure> {
    let plan = plan(home, true)?;
    warn_linger(&plan);
    if dry_run {
        print_plan(&plan);
        return Ok(exit::OK);
    }
    apply(&plan)
}

pub fn uninstall(home: &Home, dry_run: bool) -> Result<u8, Failure> {
    let plan = plan(home, false)?;
    if dry_run {
        print_plan(&plan);
        return Ok(exit::OK);
    }
    if !plan.file_exists {
        output::err(&format!("no service file at {}; nothing to remove\n", plan.path.display()));
    }
    apply(&plan)
}
