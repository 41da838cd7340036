//! `explain`: an environment with every default filled in, as YAML or JSON.

use crate::cli::{ExplainArgs, ExplainFormat, Format, Selection};
use crate::environments::Environments;
use crate::error::Error;

pub(super) fn explain(environments: &Environments, args: &ExplainArgs) -> Result<(), Error> {
    // The same names as `validate` and `render`: a file of the folder, never a path.
    let selection = Selection {
        envs: vec![args.env.clone()],
        all: false,
        format: Format::Text,
    };
    environments.select(&selection)?;
    let env = environments.load_one(&args.env)?;
    let text = match args.format {
        ExplainFormat::Yaml => serde_saphyr::to_string(&env).expect("the model serializes"),
        ExplainFormat::Json => {
            serde_json::to_string_pretty(&env).expect("the model serializes") + "\n"
        }
    };
    print!("{text}");
    Ok(())
}
