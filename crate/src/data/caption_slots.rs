//! A Shapes caption read back into the scene it asks for, in the order an image shows it:
//! the slot classifier's targets (`nn/slot_classifier.rs`).
//!
//! A caption names its objects in either order ("a red circle left of a blue square" and "a
//! blue square right of a red circle" ask for one picture), so the slots follow the image,
//! not the sentence: slot 0 holds the left object of a side-by-side pair, the upper one of a
//! stacked pair, or the lone object; slot 1 the other object of a pair.

use crate::data::shapes::{ObjColor, Position, Relation, ShapeKind, Size};

/// Colour, shape and size of one object a caption names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotObject {
    pub color: ObjColor,
    pub shape: ShapeKind,
    pub size: Size,
}

/// How a caption arranges its objects, as an image shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrangement {
    /// One object at a position.
    Single(Position),
    /// Two objects side by side (slot 0 on the left).
    Horizontal,
    /// Two objects stacked (slot 0 on top).
    Vertical,
}

impl Arrangement {
    /// Number of classes: the five positions of a lone object, then the two pair axes.
    pub const CLASSES: usize = Position::ALL.len() + 2;

    /// Class index in `0..CLASSES`.
    pub fn class(self) -> usize {
        match self {
            Arrangement::Single(p) => Position::ALL.iter().position(|&q| q == p).unwrap_or(0),
            Arrangement::Horizontal => Position::ALL.len(),
            Arrangement::Vertical => Position::ALL.len() + 1,
        }
    }
}

/// The scene a caption asks for, in image order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptionSlots {
    pub arrangement: Arrangement,
    /// One object for [`Arrangement::Single`], two (left or top first) for a pair.
    pub objects: Vec<SlotObject>,
}

/// Reads a Shapes caption; `None` when it is not one (no object, an object without colour or
/// size word, not exactly one position word for one object or one relation for two, more than
/// two objects). Positions and relations are read from their words, not whole phrases, so the
/// probe's counterfactual captions ("in the center" → "in the top") read as well.
pub fn caption_slots(caption: &str) -> Option<CaptionSlots> {
    let words: Vec<&str> = caption.split_whitespace().collect();
    let mut objects = Vec::new();
    let (mut color, mut size) = (None, None);
    for &w in &words {
        if let Some(c) = ObjColor::ALL.into_iter().find(|c| c.name() == w) {
            color = Some(c);
        } else if let Some(s) = Size::ALL.into_iter().find(|s| s.words().contains(&w)) {
            size = Some(s);
        } else if let Some(shape) = ShapeKind::ALL.into_iter().find(|s| s.words().contains(&w)) {
            objects.push(SlotObject { color: color.take()?, shape, size: size.take()? });
        }
    }
    if color.is_some() || size.is_some() {
        return None; // a colour or size word with no shape after it
    }
    match objects.as_slice() {
        [one] => {
            let position = only(Position::ALL.into_iter().filter(|p| words.contains(&p.name())))?;
            Some(CaptionSlots { arrangement: Arrangement::Single(position), objects: vec![*one] })
        }
        [a, b] => {
            let relation = caption_relation(caption)?;
            let (arrangement, objects) = match relation {
                Relation::LeftOf => (Arrangement::Horizontal, vec![*a, *b]),
                Relation::RightOf => (Arrangement::Horizontal, vec![*b, *a]),
                Relation::Above => (Arrangement::Vertical, vec![*a, *b]),
                Relation::Below => (Arrangement::Vertical, vec![*b, *a]),
            };
            Some(CaptionSlots { arrangement, objects })
        }
        _ => None,
    }
}

/// The relation a two-object caption states, from its first-named object to its second
/// ("a red circle right of a blue square" → `RightOf`); `None` unless exactly one relation's
/// words occur. For two-object captions only: a lone object "on the left" reads as `LeftOf`.
pub fn caption_relation(caption: &str) -> Option<Relation> {
    let words: Vec<&str> = caption.split_whitespace().collect();
    only(Relation::ALL.into_iter().filter(|&r| words.iter().any(|w| names_only(r, w))))
}

/// The one item of `items`, if there is exactly one.
fn only<T>(mut items: impl Iterator<Item = T>) -> Option<T> {
    let first = items.next()?;
    items.next().is_none().then_some(first)
}

/// Whether `word` is in one of `relation`'s phrases and in no other relation's ("left",
/// "over"; not "to", "the" or "of"). Words rather than whole phrases, so that a counterfactual
/// caption with one word changed ("left of" → "right of") still reads.
fn names_only(relation: Relation, word: &str) -> bool {
    let in_phrases = |r: Relation| r.phrases().iter().any(|p| p.split(' ').any(|w| w == word));
    in_phrases(relation) && Relation::ALL.into_iter().filter(|&r| r != relation).all(|r| !in_phrases(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::shapes::{Layout, Split, example};

    /// Every caption of real scenes reads back as its scene, with the objects in image order
    /// (slot 0's centre left of, or above, slot 1's).
    #[test]
    fn real_captions_read_back_as_their_scenes_in_image_order() {
        for split in [Split::Train, Split::Test] {
            for i in 0..300 {
                let ex = example(0, split, i);
                let scene = &ex.scene;
                for caption in &ex.captions {
                    let slots = caption_slots(caption).unwrap_or_else(|| panic!("unread: {caption:?}"));
                    let mut truth: Vec<_> = scene.objects.iter().collect();
                    match scene.layout {
                        Layout::Single(p) => assert_eq!(slots.arrangement, Arrangement::Single(p), "{caption}"),
                        Layout::Pair(r) => {
                            let axis = match r {
                                Relation::LeftOf | Relation::RightOf => 0,
                                Relation::Above | Relation::Below => 1,
                            };
                            let want = [Arrangement::Horizontal, Arrangement::Vertical][axis];
                            assert_eq!(slots.arrangement, want, "{caption}");
                            truth.sort_by(|a, b| a.center()[axis].total_cmp(&b.center()[axis]));
                        }
                    }
                    let got: Vec<_> = slots.objects.iter().map(|o| (o.color, o.shape, o.size)).collect();
                    let want: Vec<_> = truth.iter().map(|o| (o.color, o.shape, o.size)).collect();
                    assert_eq!(got, want, "{caption}");
                }
            }
        }
    }

    #[test]
    fn what_is_not_a_shapes_caption_reads_as_none() {
        for bad in [
            "",
            "a bird with a red crest",
            "a small red circle",
            "a red circle on the left",
            "a small red circle left of a large blue",
            "a small red circle next to a large blue square",
            "a small red circle left of a large blue square above a small green star",
            "a small red circle at the left near the top",
        ] {
            assert_eq!(caption_slots(bad), None, "{bad:?}");
        }
        let one = caption_slots("there is a tiny pink star at the top on a black background").unwrap();
        assert_eq!(one.arrangement, Arrangement::Single(Position::Top));
        assert_eq!(one.objects, vec![SlotObject { color: ObjColor::Pink, shape: ShapeKind::Star, size: Size::Small }]);
        assert_eq!(one.arrangement.class(), 2);
        assert_eq!(Arrangement::Vertical.class(), Arrangement::CLASSES - 1);
        // A counterfactual's changed word ("in the center" → "in the top") reads too.
        let moved = caption_slots("a small cyan triangle is in the top").unwrap();
        assert_eq!(moved.arrangement, Arrangement::Single(Position::Top));
        let mirrored = caption_slots("a big green dot over a little cyan triangle").unwrap();
        assert_eq!(mirrored.arrangement, Arrangement::Vertical);
        assert_eq!(mirrored.objects[0].shape, ShapeKind::Circle);
    }

    /// The stated relation reads from the first-named object to the second, whichever words
    /// say it; none without exactly one relation.
    #[test]
    fn caption_relation_reads_the_stated_direction() {
        for (caption, want) in [
            ("a red circle to the right of a blue square", Some(Relation::RightOf)),
            ("a red circle left of a blue square", Some(Relation::LeftOf)),
            ("a big green dot over a little cyan triangle", Some(Relation::Above)),
            ("a small star under a large box on a white background", Some(Relation::Below)),
            ("a small red circle next to a large blue square", None),
            ("a red circle left of a blue square above a green star", None),
        ] {
            assert_eq!(caption_relation(caption), want, "{caption}");
        }
    }
}
