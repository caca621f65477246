//! Read-only properties generated from one line each: what the wrapped core value (`self.0`) says, handed
//! back as it is. Properties that convert (to a dict, an int of any size) are written out where they are.

/// `getters!(Type { /// doc \n name -> Ret = |inner| expression; ... })` makes a `#[pymethods]` block of
/// `#[getter]`s, each evaluating `expression` with `inner` bound to `&self.0`.
macro_rules! getters {
    ($ty:ident { $( $(#[doc = $doc:literal])* $name:ident -> $ret:ty = |$inner:ident| $body:expr; )* }) => {
        #[pyo3::pymethods]
        impl $ty {
            $(
                $(#[doc = $doc])*
                #[getter]
                fn $name(&self) -> $ret {
                    let $inner = &self.0;
                    $body
                }
            )*
        }
    };
}

pub(crate) use getters;
