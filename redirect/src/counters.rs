//! Named monotonic counters, one per decision and per drop reason, for metrics export. The
//! macro is exported (hidden) so that the HRM's counters export the same way as the
//! channel's.

/// Declares a struct of `pub u64` counters and `iter()` over (stable name, value).
#[macro_export]
#[doc(hidden)]
macro_rules! named_counters {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* $field:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: u64,)*
        }

        impl $name {
            /// Every counter with its stable name (the field name).
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                [$((stringify!($field), self.$field),)*].into_iter()
            }
        }
    };
}
