//! `validate`: each selected environment valid or not, with every error and warning, as
//! text or JSON.

use crate::cli::{Format, Selection};
use crate::environments::Environments;
use crate::error::Error;

pub(super) fn validate(environments: &Environments, selection: &Selection) -> Result<(), Error> {
    let names = environments.select(selection)?;
    let mut reports = Vec::new();
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for (name, result) in environments.check(&names)? {
        match result {
            Ok(env) => {
                super::print_warnings(&env);
                let warnings: Vec<_> = env.warnings().iter().map(ToString::to_string).collect();
                reports.push(serde_json::json!({"environment": name, "valid": true, "errors": [], "warnings": warnings}));
                valid.push(name);
            }
            Err(errors) => {
                let list: Vec<_> = errors
                    .0
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "file": e.file.to_string_lossy(),
                            "line": e.position.map(|p| p.0),
                            "column": e.position.map(|p| p.1),
                            "key": e.key,
                            "message": e.message,
                        })
                    })
                    .collect();
                reports
                    .push(serde_json::json!({"environment": name, "valid": false, "errors": list}));
                invalid.push(errors);
            }
        }
    }
    match selection.format {
        Format::Json => println!("{:#}", serde_json::Value::Array(reports)),
        Format::Text => {
            for name in &valid {
                let file = environments.dir().join(format!("{name}.yaml"));
                println!("{}: valid", file.display());
            }
        }
    }
    if invalid.is_empty() {
        Ok(())
    } else if selection.format == Format::Json {
        // The report above already lists every error; the exit code still says "invalid".
        Err(Error::Invalid(Vec::new()))
    } else {
        Err(Error::Invalid(invalid))
    }
}
