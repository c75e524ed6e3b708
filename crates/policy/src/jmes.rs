//! The JMESPath runtime the policy language's `JmesPath(json, query)`
//! uses: compiled against by the parser (literal queries are checked and
//! compiled once) and run by the evaluator.

use std::sync::LazyLock;

/// The JMESPath runtime: the standard functions plus MAA's
/// `equals_ignore_case(a, b)`.
pub(crate) fn jmes_runtime() -> &'static jmespath::Runtime {
    static RT: LazyLock<jmespath::Runtime> = LazyLock::new(|| {
        use jmespath::functions::{ArgumentType, CustomFunction, Signature};
        let mut rt = jmespath::Runtime::new();
        rt.register_builtin_functions();
        rt.register_function(
            "equals_ignore_case",
            Box::new(CustomFunction::new(
                Signature::new(vec![ArgumentType::String, ArgumentType::String], None),
                Box::new(|args, _ctx| {
                    let a = args.first().and_then(|a| a.as_string().cloned());
                    let b = args.get(1).and_then(|b| b.as_string().cloned());
                    let eq = match (a, b) {
                        (Some(a), Some(b)) => a.to_lowercase() == b.to_lowercase(),
                        _ => false,
                    };
                    Ok(jmespath::Rcvar::new(jmespath::Variable::Bool(eq)))
                }),
            )),
        );
        rt
    });
    &RT
}
