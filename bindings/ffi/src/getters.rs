//! Methods generated from one line each that hand back what the wrapped core value (`self.0`) says, as it is
//! (Kotlin and Swift see them as methods). Methods that convert are written out where they are.

/// `getters!(Type { /// doc \n name -> Ret = |inner| expression; ... })` makes a `#[uniffi::export]` block of
/// methods, each evaluating `expression` with `inner` bound to `&self.0`.
macro_rules! getters {
    ($ty:ident { $( $(#[doc = $doc:literal])* $name:ident -> $ret:ty = |$inner:ident| $body:expr; )* }) => {
        #[uniffi::export]
        impl $ty {
            $(
                $(#[doc = $doc])*
                pub fn $name(&self) -> $ret {
                    let $inner = &self.0;
                    $body
                }
            )*
        }
    };
}

pub(crate) use getters;
