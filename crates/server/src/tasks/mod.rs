//! Background work: each loop that runs beside the surfaces.

pub mod lifecycle;
pub mod sync;
pub mod upkeep;
