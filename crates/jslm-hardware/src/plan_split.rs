//! The planner's side of a model split between a CUDA GPU too small for it and the CPU
//! (`LayerSplit`, like llama.cpp's `-ngl`): the CPU plan with the last blocks on the GPU where
//! enough fit there, its RAM counted as the CPU half's, and the user's own number of blocks
//! (`PlanSettings::gpu_layers`). The arithmetic of each half is `crate::split`'s.

use super::{target_for, will_not_fit, Attempt, Notes, PlanReason, Planner, Target};
use crate::device::DeviceKind;
use crate::fit::{FitLevel, FitReport};
use crate::nvidia::NvidiaGpu;
use crate::refusal::{OverrideSetting, RefusalReason};
use crate::split::{cpu_part_memory, plan_split, split_fit, LayerSplit};
use crate::warning::PlanWarning;
use jslm_core::Precision;

impl<'a> Planner<'a> {
    /// The CPU's plan when no GPU takes the whole model, with the last blocks on `too_small`
    /// (a CUDA GPU too small for all of them) where enough fit there.
    pub(super) fn cpu_side(
        &self,
        too_small: Option<&'a NvidiaGpu>,
        notes: &mut Notes,
    ) -> Attempt<'a> {
        let requested = self.settings.precision;
        // Where RAM holds the CPU plan only tightly, at a shorter context or not at all, a
        // split may hold more: the GPU's blocks never count in RAM. A precision the user asked
        // for is tried with a split before the CPU plan would refuse it as too big for RAM.
        let short = |alone: &Attempt<'a>| {
            alone.fit.level != FitLevel::Comfortable || alone.reduced_from.is_some()
        };
        let better = |alone: &Attempt<'a>, split: &Attempt<'a>| {
            split.fit.level == FitLevel::Comfortable || alone.fit.level == FitLevel::WillNotFit
        };
        let automatic_with_split = |alone: Attempt<'a>| {
            let Some(gpu) = too_small.filter(|_| short(&alone)) else {
                return alone;
            };
            let (ladder, as_stored) = self.ladder(&self.quantized_ladder());
            let reason = |p| self.ladder_reason(&ladder, as_stored, p);
            match self.split_for_ram(gpu, &ladder, reason) {
                Some(split) if better(&alone, &split) => split,
                _ => alone,
            }
        };
        let mut attempt = match requested {
            Some(precision) => {
                let alone = self.evaluate_fitting(Target::Cpu, precision, true);
                let named = too_small
                    .filter(|_| short(&alone))
                    .and_then(|gpu| {
                        self.split_for_ram(gpu, &[precision], |_| PlanReason::Requested)
                    })
                    .filter(|split| better(&alone, split));
                match named {
                    Some(split) => split,
                    None => {
                        let attempt = self.cpu_with_precision(precision, notes);
                        // Refused and planned automatically instead: as an automatic plan.
                        if attempt.reason == PlanReason::Requested {
                            attempt
                        } else {
                            automatic_with_split(attempt)
                        }
                    }
                }
            }
            None => automatic_with_split(self.cpu_automatic()),
        };
        if let Some(gpu) = too_small.filter(|_| attempt.split.is_none()) {
            if attempt.fit.level != FitLevel::WillNotFit {
                if let Some(split) = plan_split(
                    self.model,
                    attempt.precision,
                    attempt.context_tokens,
                    self.settings.prefill_chunk_tokens,
                    gpu.free_vram_bytes,
                ) {
                    self.split_onto(&mut attempt, gpu, split);
                }
            }
        }
        attempt
    }

    /// `attempt` (a CPU attempt) with `split`'s blocks on `gpu`: its memory and fit become the
    /// CPU half's (RAM), the split's own fit is the GPU's.
    fn split_onto(&self, attempt: &mut Attempt<'a>, gpu: &'a NvidiaGpu, split: LayerSplit) {
        attempt.memory = cpu_part_memory(
            self.model,
            attempt.precision,
            attempt.context_tokens,
            split.prefill_chunk_tokens,
            split.gpu_layers,
        );
        let (available, pool) = Target::Cpu.memory(self.profile);
        attempt.fit = FitReport::new(attempt.memory.total_bytes, available, pool);
        attempt.split = Some((gpu, split));
    }

    /// `ladder` on the CPU with a split onto `gpu`, counted in RAM as the CPU half: the first
    /// precision whose split fits RAM comfortably at the full context, else at a shorter
    /// automatic one, else the first that fits tightly (as `choose` orders them); `reason`
    /// says why a precision was taken.
    fn split_for_ram(
        &self,
        gpu: &'a NvidiaGpu,
        ladder: &[Precision],
        reason: impl Fn(Precision) -> PlanReason,
    ) -> Option<Attempt<'a>> {
        let full = self.full_context();
        let mut tight = None;
        for context_tokens in self.contexts(true) {
            for &precision in ladder {
                if self.refusal(Target::Cpu, precision, false).is_some() {
                    continue;
                }
                let Some(split) = plan_split(
                    self.model,
                    precision,
                    context_tokens,
                    self.settings.prefill_chunk_tokens,
                    gpu.free_vram_bytes,
                ) else {
                    continue;
                };
                let mut attempt = self.evaluate(Target::Cpu, precision, context_tokens);
                attempt.reduced_from = (context_tokens < full).then_some(full);
                attempt.reason = reason(precision);
                self.split_onto(&mut attempt, gpu, split);
                match attempt.fit.level {
                    FitLevel::Comfortable => return Some(attempt),
                    FitLevel::Tight if tight.is_none() => tight = Some(attempt),
                    _ => {}
                }
            }
        }
        tight
    }

    /// `blocks` of the model on the CUDA GPU, as the user asked (`PlanSettings::gpu_layers`):
    /// 0 is the CPU plan, all of them the GPU's, anything between a split at the planned (or,
    /// from a float GPU plan, the CPU's quantized) precision. Refused, keeping `planned`, where
    /// there is no usable NVIDIA GPU, the precision is a float, or the GPU's part would not
    /// fit (unless forced).
    pub(super) fn with_gpu_layers(
        &self,
        planned: Attempt<'a>,
        blocks: u32,
        notes: &mut Notes,
    ) -> Attempt<'a> {
        let refuse = |notes: &mut Notes, reason| {
            notes.refuse(OverrideSetting::GpuLayers, blocks.to_string(), reason)
        };
        if blocks == 0 {
            return match (planned.target, &planned.split, self.settings.precision) {
                (Target::Cpu, None, _) => planned,
                (_, _, Some(precision)) => self.cpu_with_precision(precision, notes),
                _ => self.cpu_automatic(),
            };
        }
        if matches!(
            self.settings.device,
            Some(DeviceKind::Cpu | DeviceKind::Metal)
        ) {
            let device = self.settings.device.unwrap_or(DeviceKind::Cpu);
            refuse(notes, RefusalReason::DeviceChosen { device });
            return planned;
        }
        let gpu = match target_for(self.profile, DeviceKind::Cuda) {
            Ok(Target::Cuda(gpu)) => gpu,
            Ok(_) => unreachable!("target_for(Cuda) is a CUDA target"),
            Err(reason) => {
                refuse(notes, reason);
                return planned;
            }
        };
        let total = u32::try_from(self.model.shape.num_hidden_layers).unwrap_or(u32::MAX);
        if blocks >= total {
            if matches!(planned.target, Target::Cuda(_)) && planned.split.is_none() {
                return planned;
            }
            let mut whole = self.evaluate_fitting(Target::Cuda(gpu), planned.precision, true);
            whole.reason = planned.reason.clone();
            if whole.fit.level == FitLevel::WillNotFit {
                let reason = will_not_fit(&whole);
                if !self.settings.force {
                    refuse(notes, reason);
                    return planned;
                }
                whole.warnings.push(PlanWarning::Forced { reason });
            }
            return whole;
        }
        let mut cpu = if planned.precision.is_quantized() {
            let mut cpu = self.evaluate_fitting(Target::Cpu, planned.precision, true);
            cpu.reason = planned.reason.clone();
            cpu
        } else if self.settings.precision.is_some() {
            refuse(
                notes,
                RefusalReason::SplitNeedsQuantized {
                    precision: planned.precision,
                },
            );
            return planned;
        } else {
            self.cpu_automatic()
        };
        if !cpu.precision.is_quantized() {
            refuse(
                notes,
                RefusalReason::SplitNeedsQuantized {
                    precision: cpu.precision,
                },
            );
            return planned;
        }
        let (gpu_fit, chunk) = split_fit(
            self.model,
            cpu.precision,
            cpu.context_tokens,
            self.settings.prefill_chunk_tokens,
            gpu.free_vram_bytes,
            blocks,
        );
        if gpu_fit.level == FitLevel::WillNotFit {
            let reason = RefusalReason::WillNotFit {
                needed_bytes: gpu_fit.needed_bytes,
                available_bytes: gpu_fit.available_bytes,
                pool: gpu_fit.pool,
            };
            if !self.settings.force {
                refuse(notes, reason);
                return planned;
            }
            cpu.warnings.push(PlanWarning::Forced { reason });
        }
        cpu.warnings.extend(
            planned
                .warnings
                .into_iter()
                .filter(|w| matches!(w, PlanWarning::GpuTooSmall { .. })),
        );
        self.split_onto(
            &mut cpu,
            gpu,
            LayerSplit {
                gpu_layers: blocks,
                total_layers: total,
                gpu_fit,
                prefill_chunk_tokens: chunk,
            },
        );
        cpu
    }
}
