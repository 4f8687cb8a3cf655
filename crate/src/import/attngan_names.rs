//! The official AttnGAN state-dict names (`RNN_ENCODER`, `G_NET` in the authors' PyTorch
//! code) and the module-tree names of this crate, and the widths both imply.
//!
//! | official | here |
//! |---|---|
//! | `encoder.weight` | `text_encoder.encoder.weight` |
//! | `rnn.weight_ih_l0[_reverse]`, `rnn.weight_hh_l0[_reverse]` (i, f, g, o stacked) | `text_encoder.rnn.{forward,backward}_dir.{input,hidden}.weight` (transposed) |
//! | `rnn.bias_ih_l0[_reverse]`, `rnn.bias_hh_l0[_reverse]` | `….{input,hidden}.bias` |
//! | `ca_net.fc` | `generator.ca.fc` |
//! | `h_net1.fc.0` / `fc.1` (Linear, BatchNorm1d) | `generator.init.fc` / `init.bn` |
//! | `h_net1.upsample{k}.1` / `.2` (conv, BN) | `generator.init.ups.{k-1}.conv` / `.bn` |
//! | `h_net{i}.att.conv_context` | `generator.next.{i-2}.att.conv_context` |
//! | `h_net{i}.residual.{r}.block.{0,1,3,4}` | `generator.next.{i-2}.res.{r}.{conv1,bn1,conv2,bn2}` |
//! | `h_net{i}.upsample.1` / `.2` | `generator.next.{i-2}.up.conv` / `.bn` |
//! | `img_net{i}.img.0` | `generator.heads.{i-1}.conv` |
//! | DM-GAN `h_net{i}.A`, `.B` | `generator.next.{i-2}.memory.word_gate`, `.image_gate` (transposed) |
//! | DM-GAN `h_net{i}.M_w.0`, `.M_r.0`, `.key.0`, `.value.0` (Conv1d) | `….memory.write_word`, `.write_image`, `.key`, `.value` (Linear) |
//! | DM-GAN `h_net{i}.response_gate.0` | `….memory.response` |
//!
//! BatchNorm's `weight`/`bias` are γ/β here; Linear weights are stored [in, out] here and
//! [out, in] in PyTorch.

/// Where an official tensor goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Module-tree name in [`crate::weights::InferenceModel`].
    pub name: String,
    /// Linear weight: transpose [out, in] → [in, out].
    pub transpose: bool,
}

fn to(name: String, transpose: bool) -> Option<Target> {
    Some(Target { name, transpose })
}

/// BatchNorm parameter names: PyTorch → here.
fn batch_norm(p: &str) -> Option<&'static str> {
    match p {
        "weight" => Some("gamma"),
        "bias" => Some("beta"),
        "running_mean" => Some("running_mean"),
        "running_var" => Some("running_var"),
        _ => None,
    }
}

/// A conv (`.1.weight`) + BatchNorm (`.2.*`) pair inside an `upBlock` Sequential.
fn up_block(prefix: &str, rest: &[&str]) -> Option<Target> {
    match rest {
        ["1", "weight"] => to(format!("{prefix}.conv.weight"), false),
        ["2", p] => to(format!("{prefix}.bn.{}", batch_norm(p)?), false),
        _ => None,
    }
}

/// `RNN_ENCODER` key → text-encoder tensor.
pub fn text_encoder_target(key: &str) -> Option<Target> {
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        ["encoder", "weight"] => to("text_encoder.encoder.weight".into(), false),
        ["rnn", param] => {
            let (param, dir) = match param.strip_suffix("_reverse") {
                Some(p) => (p, "backward_dir"),
                None => (*param, "forward_dir"),
            };
            let (kind, layer) = param.rsplit_once('_')?;
            if layer != "l0" {
                return None;
            }
            let (leaf, transpose) = match kind {
                "weight_ih" => ("input.weight", true),
                "weight_hh" => ("hidden.weight", true),
                "bias_ih" => ("input.bias", false),
                "bias_hh" => ("hidden.bias", false),
                _ => return None,
            };
            to(format!("text_encoder.rnn.{dir}.{leaf}"), transpose)
        }
        _ => None,
    }
}

/// Stage number of `h_net{i}` / `img_net{i}` (1-based).
fn stage_of(part: &str, prefix: &str) -> Option<usize> {
    part.strip_prefix(prefix)?.parse().ok().filter(|&i| i >= 1)
}

/// `G_NET` key → generator tensor.
pub fn generator_target(key: &str) -> Option<Target> {
    let parts: Vec<&str> = key.split('.').collect();
    let g = "generator";
    match parts.as_slice() {
        ["ca_net", "fc", p @ ("weight" | "bias")] => to(format!("{g}.ca.fc.{p}"), *p == "weight"),
        [img, "img", "0", "weight"] => to(format!("{g}.heads.{}.conv.weight", stage_of(img, "img_net")? - 1), false),
        ["h_net1", "fc", "0", "weight"] => to(format!("{g}.init.fc.weight"), true),
        ["h_net1", "fc", "1", p] => to(format!("{g}.init.bn.{}", batch_norm(p)?), false),
        ["h_net1", up, rest @ ..] => {
            let k: usize = up.strip_prefix("upsample")?.parse().ok().filter(|k| (1..=4).contains(k))?;
            up_block(&format!("{g}.init.ups.{}", k - 1), rest)
        }
        [net, rest @ ..] => {
            let i = stage_of(net, "h_net")?;
            if i < 2 {
                return None;
            }
            let stage = format!("{g}.next.{}", i - 2);
            match rest {
                ["att", "conv_context", "weight"] => to(format!("{stage}.att.conv_context.weight"), false),
                // DM-GAN's dynamic memory (1×1 Conv1d weights [out, in, 1] become [in, out]).
                ["A", "weight"] => to(format!("{stage}.memory.word_gate.weight"), true),
                ["B", "weight"] => to(format!("{stage}.memory.image_gate.weight"), true),
                [conv @ ("M_w" | "M_r" | "key" | "value"), "0", p @ ("weight" | "bias")] => {
                    let ours = match *conv {
                        "M_w" => "write_word",
                        "M_r" => "write_image",
                        other => other,
                    };
                    to(format!("{stage}.memory.{ours}.{p}"), *p == "weight")
                }
                ["response_gate", "0", p @ ("weight" | "bias")] => to(format!("{stage}.memory.response.{p}"), false),
                ["upsample", tail @ ..] => up_block(&format!("{stage}.up"), tail),
                ["residual", r, "block", layer, p] => {
                    let r: usize = r.parse().ok()?;
                    let leaf = match *layer {
                        "0" if *p == "weight" => "conv1.weight".to_string(),
                        "3" if *p == "weight" => "conv2.weight".to_string(),
                        "1" => format!("bn1.{}", batch_norm(p)?),
                        "4" => format!("bn2.{}", batch_norm(p)?),
                        _ => return None,
                    };
                    to(format!("{stage}.res.{r}.{leaf}"), false)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(t: Option<Target>) -> String {
        t.map(|t| format!("{}{}", t.name, if t.transpose { " T" } else { "" })).unwrap_or_default()
    }

    #[test]
    fn text_encoder_names() {
        assert_eq!(name(text_encoder_target("encoder.weight")), "text_encoder.encoder.weight");
        assert_eq!(name(text_encoder_target("rnn.weight_ih_l0")), "text_encoder.rnn.forward_dir.input.weight T");
        assert_eq!(
            name(text_encoder_target("rnn.weight_hh_l0_reverse")),
            "text_encoder.rnn.backward_dir.hidden.weight T"
        );
        assert_eq!(name(text_encoder_target("rnn.bias_ih_l0_reverse")), "text_encoder.rnn.backward_dir.input.bias");
        assert_eq!(text_encoder_target("rnn.weight_ih_l1"), None);
        assert_eq!(text_encoder_target("decoder.weight"), None);
    }

    #[test]
    fn generator_names() {
        let cases = [
            ("ca_net.fc.weight", "generator.ca.fc.weight T"),
            ("ca_net.fc.bias", "generator.ca.fc.bias"),
            ("h_net1.fc.0.weight", "generator.init.fc.weight T"),
            ("h_net1.fc.1.weight", "generator.init.bn.gamma"),
            ("h_net1.fc.1.running_var", "generator.init.bn.running_var"),
            ("h_net1.upsample1.1.weight", "generator.init.ups.0.conv.weight"),
            ("h_net1.upsample4.2.bias", "generator.init.ups.3.bn.beta"),
            ("img_net3.img.0.weight", "generator.heads.2.conv.weight"),
            ("h_net2.att.conv_context.weight", "generator.next.0.att.conv_context.weight"),
            ("h_net3.residual.1.block.0.weight", "generator.next.1.res.1.conv1.weight"),
            ("h_net2.residual.0.block.4.running_mean", "generator.next.0.res.0.bn2.running_mean"),
            ("h_net2.residual.0.block.3.weight", "generator.next.0.res.0.conv2.weight"),
            ("h_net3.upsample.2.weight", "generator.next.1.up.bn.gamma"),
            ("h_net2.A.weight", "generator.next.0.memory.word_gate.weight T"),
            ("h_net3.M_w.0.weight", "generator.next.1.memory.write_word.weight T"),
            ("h_net3.M_r.0.bias", "generator.next.1.memory.write_image.bias"),
            ("h_net2.value.0.weight", "generator.next.0.memory.value.weight T"),
            ("h_net2.response_gate.0.bias", "generator.next.0.memory.response.bias"),
        ];
        for (official, ours) in cases {
            assert_eq!(name(generator_target(official)), ours, "{official}");
        }
        for unknown in ["h_net1.upsample5.1.weight", "h_net2.residual.0.block.2.weight", "netD.x", "h_net0.att.x"] {
            assert_eq!(generator_target(unknown), None, "{unknown}");
        }
    }
}
