//! Spin's variables interface for components, at both versions Spin guests
//! import: `fermyon:spin/variables@2.0.0` (a plain function) and
//! `spin:variables/variables@3.0.0` (an `async func`). Both serve the app's
//! `variables` ([`crate::context::AppContext::variables`]), the same values
//! `wasi:config` gives, under Spin's rules for names: lowercase ASCII
//! letters, digits and single underscores between them, starting with a
//! letter. A name breaking them is `invalid-name`, one the app does not
//! define `undefined`, each with Spin's message. Bindings come from the
//! vendored WIT in `wit/` (`spin-2.0.0/`, `spin-variables-3.0.0/`) with an
//! inline world that imports only these two interfaces.

use wasmtime::component::{Accessor, HasData, Linker};

wasmtime::component::bindgen!({
    inline: "
        package serverless-wasm:spin-variables;

        world imports {
            import fermyon:spin/variables@2.0.0;
            import spin:variables/variables@3.0.0;
        }
    ",
    path: ["wit/spin-2.0.0", "wit/spin-variables-3.0.0"],
});

use fermyon::spin::variables as v2;
use spin::variables::variables as v3;

/// What the host functions reach: the app's variables.
pub struct VariablesView<'a> {
    pub variables: &'a [(String, String)],
}

struct HasVariables;

impl HasData for HasVariables {
    type Data<'a> = VariablesView<'a>;
}

/// Adds both versions of Spin's variables interface to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> VariablesView<'_>,
) -> wasmtime::Result<()> {
    v2::add_to_linker::<T, HasVariables>(linker, view)?;
    v3::add_to_linker::<T, HasVariables>(linker, view)
}

/// Why a variable has no value, as both versions' `error` say it.
#[derive(Debug, PartialEq, Eq)]
enum Missing {
    InvalidName(String),
    Undefined(String),
}

impl VariablesView<'_> {
    /// The value of `name`, after checking it as Spin does.
    fn get(&self, name: &str) -> Result<String, Missing> {
        check_name(name).map_err(|reason| Missing::InvalidName(format!("{name:?}: {reason}")))?;
        self.variables
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| Missing::Undefined(format!("no variable {name:?}")))
    }
}

/// Spin's rules for a variable name (`spin_expressions::Key`), each broken
/// one with Spin's wording.
fn check_name(name: &str) -> Result<(), String> {
    let (Some(first), Some(last)) = (name.bytes().next(), name.bytes().last()) else {
        return Err("must not be empty".into());
    };
    if let Some(invalid) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "invalid character {invalid:?}. Variable names may contain only lower-case letters, numbers, and underscores."
        ));
    }
    if !first.is_ascii_lowercase() {
        return Err("must start with a lowercase ASCII letter".into());
    }
    if !last.is_ascii_alphanumeric() {
        return Err("must end with a lowercase ASCII letter or digit".into());
    }
    if name.contains("__") {
        return Err("must not contain multiple consecutive underscores".into());
    }
    Ok(())
}

impl v2::Host for VariablesView<'_> {
    fn get(&mut self, name: String) -> Result<String, v2::Error> {
        VariablesView::get(self, &name).map_err(|missing| match missing {
            Missing::InvalidName(message) => v2::Error::InvalidName(message),
            Missing::Undefined(message) => v2::Error::Undefined(message),
        })
    }
}

impl v3::Host for VariablesView<'_> {}

impl<T> v3::HostWithStore<T> for HasVariables {
    async fn get(accessor: &Accessor<T, Self>, name: String) -> Result<String, v3::Error> {
        let value = accessor.with(|mut access| access.get().get(&name));
        value.map_err(|missing| match missing {
            Missing::InvalidName(message) => v3::Error::InvalidName(message),
            Missing::Undefined(message) => v3::Error::Undefined(message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(variables: &[(String, String)]) -> VariablesView<'_> {
        VariablesView { variables }
    }

    #[test]
    fn names_follow_spins_rules() {
        for good in ["a", "api_key", "k8s", "a1_b2_c3"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for (bad, reason) in [
            ("", "must not be empty"),
            ("API_KEY", "invalid character 'A'"),
            ("api-key", "invalid character '-'"),
            ("caf\u{e9}", "invalid character '\u{e9}'"),
            ("1st", "must start with a lowercase ASCII letter"),
            ("_a", "must start with a lowercase ASCII letter"),
            ("a_", "must end with a lowercase ASCII letter or digit"),
            ("a__b", "must not contain multiple consecutive underscores"),
        ] {
            let error = check_name(bad).expect_err(bad);
            assert!(error.starts_with(reason), "{bad}: {error}");
        }
    }

    #[test]
    fn get_answers_value_undefined_or_invalid_name() {
        let variables = vec![("greeting".to_string(), "hi".to_string())];
        let view = view(&variables);
        assert_eq!(view.get("greeting"), Ok("hi".into()));
        assert_eq!(
            view.get("nope"),
            Err(Missing::Undefined("no variable \"nope\"".into()))
        );
        // An invalid name is refused even when the app has such a key.
        let variables = vec![("Greeting".to_string(), "hi".to_string())];
        let view = super::tests::view(&variables);
        assert!(
            matches!(view.get("Greeting"), Err(Missing::InvalidName(m)) if m.starts_with("\"Greeting\": invalid character 'G'")),
        );
    }
}
