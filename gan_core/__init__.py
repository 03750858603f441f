"""GAN Explorer's core: the GAN of chapter 14 (MLP G and D on Fashion-MNIST), trained fast.

Importing this package has no side effects: no downloads, folders or argument parsing.
"""
from .anatomy import (EQUILIBRIUM, Layer, LayerOutput, StepAnatomy, config_layers, layer_outputs, layers, settled,
                      step_anatomy, step_inputs)
from .checkpoints import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .fashion_classifier import DEFAULT_CLASSIFIER_PATH, ClassifierError, load_classifier
from .config import G_LOSSES, ConfigError, GANConfig
from .data import CLASS_NAMES, DataNotFoundError, load_fashion_mnist
from .files import atomic_write, atomic_write_bytes
from .images import gif_bytes, grid, png_bytes, save_gif, save_png, strip, upscale
from .latent import d_scores, decode, interpolate, lerp, slerp, to_uint8, z_from_seed
from .quality import (COVERAGE_THRESHOLD, Evaluation, Verdict, evaluate_generator, evaluate_real_floor,
                      frechet_distance, real_reference, verdict)
from .model import build_discriminator, build_generator, build_models
from .courtesy import note_interaction
from .device import resolve_device
from .precision import PRECISIONS, bf16_available
from .directions import Directions, direction_strip, ganspace_directions, label_direction, sefa_directions
from .latent_map import LatentPlane, latent_plane
from .projection import Projection, best_of_random, load_image, prepare_image, project_image
from .steering import SteerPath, steer
from .run_folder import ACTIVE_STATES, DISK_BUDGET_MB, Recording, RunFolder, list_runs, log_spaced_epochs
from .step import book_step, d_step, g_step, gan_step, measure_gan
from .trainer import EpochEvent, StepEvent, TrainControl, Trainer, TrainingDiverged

__all__ = [
    "EQUILIBRIUM", "Layer", "LayerOutput", "StepAnatomy", "config_layers", "layer_outputs", "layers", "settled",
    "step_anatomy", "step_inputs",
    "Checkpoint", "CheckpointError", "load_checkpoint", "save_checkpoint",
    "DEFAULT_CLASSIFIER_PATH", "ClassifierError", "load_classifier",
    "ConfigError", "G_LOSSES", "GANConfig",
    "CLASS_NAMES", "DataNotFoundError", "load_fashion_mnist",
    "atomic_write", "atomic_write_bytes",
    "gif_bytes", "grid", "png_bytes", "save_gif", "save_png", "strip", "upscale",
    "d_scores", "decode", "interpolate", "lerp", "slerp", "to_uint8", "z_from_seed",
    "COVERAGE_THRESHOLD", "Evaluation", "Verdict", "evaluate_generator", "evaluate_real_floor", "frechet_distance",
    "real_reference", "verdict",
    "build_discriminator", "build_generator", "build_models",
    "ACTIVE_STATES", "DISK_BUDGET_MB", "Recording", "RunFolder", "list_runs", "log_spaced_epochs", "note_interaction",
    "book_step", "d_step", "g_step", "gan_step", "measure_gan", "resolve_device", "PRECISIONS", "bf16_available",
    "Directions", "direction_strip", "ganspace_directions", "label_direction", "sefa_directions",
    "LatentPlane", "latent_plane", "Projection", "best_of_random", "load_image", "prepare_image", "project_image",
    "SteerPath", "steer",
    "EpochEvent", "StepEvent", "TrainControl", "Trainer", "TrainingDiverged",
]
