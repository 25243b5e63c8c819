//! The border router.
