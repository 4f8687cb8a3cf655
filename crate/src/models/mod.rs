//! Networks: generators, discriminators and the DAMSM encoders.

pub mod attngan;
pub mod damsm;
pub mod discriminators;
pub mod layout;
pub mod rat_gan;
