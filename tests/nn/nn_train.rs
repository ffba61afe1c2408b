//! Training: a killed-and-resumed run equals an uninterrupted one, bit for bit; a few steps on a
//! learnable toy problem reduce the loss.

use axdnn::data::{Dataset, DatasetName};
use axdnn::model::train::{train, train_until, TrainConfig};
use axdnn::model::{ArchName, Shape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Images whose label is the quadrant holding a bright square (learnable in a few steps).
fn toy(n: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let s = Shape::new(1, 28, 28);
    let mut images = vec![0f32; n * s.numel()];
    let mut labels = vec![0u8; n];
    for i in 0..n {
        let q = rng.gen_range(0..4u8);
        labels[i] = q;
        let (y0, x0) = ((q as usize / 2) * 14 + 3, (q as usize % 2) * 14 + 3);
        for y in y0..y0 + 8 {
            for x in x0..x0 + 8 {
                images[i * 784 + y * 28 + x] = rng.gen_range(0.5..1.0);
            }
        }
    }
    Dataset { shape: s, images, labels }
}

fn cfg(epochs: usize) -> TrainConfig {
    let mut c = TrainConfig::new(ArchName::Lenet5, DatasetName::Mnist);
    c.epochs = epochs;
    c.batch = 16;
    c.lr = 0.05;
    c.augment = true;
    c
}

#[test]
fn resume_equals_uninterrupted() {
    let (tr, te) = (toy(64, 1), toy(32, 2));
    let a = tempfile::tempdir().unwrap();
    let full = train(&cfg(2), &tr, &te, a.path(), false).unwrap();
    let b = tempfile::tempdir().unwrap();
    let part = train_until(&cfg(2), &tr, &te, b.path(), false, 1).unwrap();
    assert_eq!(part.history.len(), 1);
    let resumed = train(&cfg(2), &tr, &te, b.path(), false).unwrap();
    let strip = |h: &[axdnn::model::train::EpochLog]| {
        h.iter().map(|e| (e.epoch, e.train_loss, e.train_accuracy, e.test_accuracy)).collect::<Vec<_>>()
    };
    assert_eq!(strip(&resumed.history), strip(&full.history));
    assert_eq!(resumed.params, full.params);
    // Re-planning the number of epochs on resume is allowed (and recorded) …
    let c = tempfile::tempdir().unwrap();
    train_until(&cfg(3), &tr, &te, c.path(), false, 1).unwrap();
    let replanned = train(&cfg(2), &tr, &te, c.path(), false).unwrap();
    assert_eq!(replanned.history.len(), 2);
    assert_eq!(replanned.replans.len(), 1, "{:?}", replanned.replans);
    // … but a checkpoint from other options is refused, not silently mixed in.
    let mut other = cfg(2);
    other.seed = 9;
    assert!(train(&other, &tr, &te, b.path(), false).is_err());
}

#[test]
fn training_learns_toy_problem() {
    let (tr, te) = (toy(256, 3), toy(128, 4));
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(3);
    c.augment = false;
    let out = train(&c, &tr, &te, d.path(), false).unwrap();
    assert!(out.history[2].train_loss < out.history[0].train_loss, "{:?}", out.history);
    assert!(out.test_accuracy > 0.9, "test accuracy {}", out.test_accuracy);
}
