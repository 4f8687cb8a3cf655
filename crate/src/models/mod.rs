//! Networks: generators, discriminators and the DAMSM encoders.

pub mod attngan;
pub mod damsm;
pub mod discriminators;
pub mod rat_gan;
