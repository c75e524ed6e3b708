//! Sources tried in order: the one loop the collateral chains (SEV-SNP,
//! TDX) share. Each chain keeps its own source trait and request and
//! collateral types; this walks the sources, skips those that have nothing
//! usable, and remembers the last failure.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future, as `async-trait` methods return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Asks each of `sources` in order with `fetch` and returns the first
/// answer `usable` accepts, with its source. A source that has nothing
/// (`Ok(None)`, or an answer `usable` refuses) is skipped; one that fails
/// is reported to `failed` and skipped. When none answered, the error is
/// the last failure, or `None` when no source failed.
pub async fn first_usable<'a, S: ?Sized, T, E>(
    sources: &'a [Arc<S>],
    fetch: impl Fn(&'a S) -> BoxFuture<'a, Result<Option<T>, E>>,
    usable: impl Fn(&T) -> bool,
    mut failed: impl FnMut(&S, &E),
) -> Result<(&'a S, T), Option<E>> {
    let mut last_err = None;
    for s in sources {
        match fetch(s).await {
            Ok(Some(found)) if usable(&found) => return Ok((s, found)),
            Ok(_) => {}
            Err(e) => {
                failed(s, &e);
                last_err = Some(e);
            }
        }
    }
    Err(last_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_usable_skips_empty_and_failed_sources() {
        let sources: Vec<Arc<i32>> = vec![Arc::new(0), Arc::new(1), Arc::new(2), Arc::new(3)];
        let fetch = |s: &i32| -> BoxFuture<'_, Result<Option<i32>, String>> {
            let v = *s;
            Box::pin(async move {
                match v {
                    0 => Ok(None),
                    1 => Err("one failed".to_string()),
                    2 => Ok(Some(-2)),
                    _ => Ok(Some(v * 10)),
                }
            })
        };
        let mut failures = 0;
        let (s, v) = first_usable(&sources, fetch, |v| *v > 0, |_, _| failures += 1)
            .await
            .unwrap();
        assert_eq!((*s, v, failures), (3, 30, 1));
        let e = first_usable(&sources[..3], fetch, |v| *v > 0, |_, _| {})
            .await
            .unwrap_err();
        assert_eq!(e.as_deref(), Some("one failed"));
        assert!(first_usable(&sources[..1], fetch, |_| true, |_, _| {})
            .await
            .unwrap_err()
            .is_none());
    }
}
