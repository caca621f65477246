//! Read-only properties generated from one line each: what the wrapped core value (`self.0`) says, handed
//! back as it is. Properties that convert are written out where they are.

/// `getters!(Type { #[doc = "..."] name -> Ret = |inner| expression; ... })` makes a `#[napi]` block of
/// getters (camelCase in JavaScript), each evaluating `expression` with `inner` bound to `&self.0`. Docs are
/// `#[doc]` attributes, not `///`: a `///` passed through a macro becomes a raw string, which napi-rs copies
/// into `native.d.ts` with its `r"` prefix.
macro_rules! getters {
    ($ty:ident { $( $(#[doc = $doc:literal])* $name:ident -> $ret:ty = |$inner:ident| $body:expr; )* }) => {
        #[napi_derive::napi]
        impl $ty {
            $(
                $(#[doc = $doc])*
                #[napi(getter)]
                pub fn $name(&self) -> $ret {
                    let $inner = &self.0;
                    $body
                }
            )*
        }
    };
}

pub(crate) use getters;
