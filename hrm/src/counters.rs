//! Named monotonic counters, one per decision and per drop reason, for metrics export.

/// Declares a struct of `pub u64` counters and `iter()` over (stable name, value).
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

pub(crate) use named_counters;
