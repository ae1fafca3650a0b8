"""Meta-KD fidelity switches (``docs/methods/meta_kd.md`` §12) with the method note's defaults.

Each field names where its default comes from: [C] = reference code (authors' EasyTransfer release,
EasyNLP port, OneFlow port), [M] = the paper as remembered in the method note (not verified against the PDF),
[P] = a project choice. The alternatives reproduce a port's behaviour (sometimes a bug) so the
notebook can show its effect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from hrkd_lite.errors import HrkdError, check_choice

PROTOTYPES = ("class", "domain")
TEACHER_WEIGHT_TERMS = ("both", "domain")
SCORE_FORMULAS = ("code", "paper")
INSTANCE_WEIGHTING = ("per_instance", "batch_mean")
SCHEDULES = ("two_stage", "joint")
SPLITS = ("hrkd", "pooled")
TEACHER_VARIANTS = ("meta", "single", "mix")
PRED_CE_REDUCTIONS = ("mean_classes", "batchmean")
HEAD_INPUTS = ("relu", "dropout")


@dataclass(frozen=True)
class MetaKDConfig:
    """All Meta-KD switches in one frozen dataclass (docs/methods/meta_kd.md §12).

    Attributes:
        prototypes: ``"class"`` = one prototype per (domain, class) (paper [M], OneFlow [C]);
            ``"domain"`` = one per domain (authors, EasyNLP [C]). Method note ``docs/methods/meta_kd.md`` §3, §5.4.
        use_sample_weights: weight the meta-teacher loss by the prototype scores t_i (authors' script
            passes ``--use_sample_weights 1``). Off = plain mean.
        use_domain_loss: add the shuffled-domain-label corruption loss (EasyNLP default [C]); the
            authors' released script trains without it (quirk, docs/methods/meta_kd.md §3).
        domain_loss_weight: λ_d of the corruption loss (0.5 in both codes; OneFlow 0.1).
        teacher_weight_terms: ``"both"`` = t_i·[CE + λ_d CE_dom] (authors, EasyNLP);
            ``"domain"`` = CE + λ_d·mean(t_i CE_dom) (OneFlow).
        transferability_score: ``"code"`` = ½[cos(h, own) + cos(h, mean of others)] [C];
            ``"paper"`` = cos(h, own) + mean over others of cos(h, p^k) [M, unverified].
        token_mean_with_padding: the authors' h(x) averages tokens 1..T-1 *including* padding (quirk,
            docs/methods/meta_kd.md §5.3). False = average real tokens only.
        instance_weighting: ``"per_instance"`` = λ_i applied to per-example losses before the batch mean
            (authors, ``MSELoss(reduction="none")``); ``"batch_mean"`` = EasyNLP bug: the terms are
            batch means, so λ only rescales by mean(λ) (docs/methods/meta_kd.md §5.1).
        tkd_target_fit_dense: False = project the student's TKD feature only (authors); True = also
            project the teacher's with a fresh, untrained ``fit_dense`` (EasyNLP bug, docs/methods/meta_kd.md §5.2).
        tkd_weight: γ₂, weight of the transferable-knowledge (TKD) feature loss (= domain_loss_weight
            in both codes, 0.5).
        schedule: ``"two_stage"`` = intermediate layers, then prediction layer (code [C]);
            ``"joint"`` = one weighted sum (paper [M]).
        pred_temperature: T of the stage-2 soft cross-entropy (authors 1, EasyNLP 2).
        pred_lambda_weighting: weight the stage-2 loss by λ_i too (off in code; paper? [M]).
        split: ``"hrkd"`` per-domain membership [P] or ``"pooled"`` stratified seed 11111 (authors).
        teacher_variant: ``"meta"`` (all domains, t_i, corruption) or the baselines ``"single"``
            (target domain only) and ``"mix"`` (all domains, plain CE).
        zero_shot: the meta/mix teacher is trained without the target domain (docs/methods/meta_kd.md §11).
        few_shot: fraction of the target domain's training split kept (None = all).
        pred_ce_reduction: stage-2 soft CE scale: ``"mean_classes"`` = mean over batch AND classes (the
            authors' TinyBERT-derived ``soft_cross_entropy`` [R]); ``"batchmean"`` = batch mean of the
            per-example class sum (C × larger; our earlier default).
        corruption_skip_cls: h̄ of the corruption heads (teacher and student) averages the last layer over the
            tokens AFTER [CLS] (True, authors [R]) or over all tokens ([CLS] included, False).
        head_input: the task head of Meta-KD's teachers and students sees ``"relu"`` = relu(pooled) without
            dropout (authors' TinyBERT-derived classifier [R]) or ``"dropout"`` = dropout(pooled) (BERT).
        teacher_train_mode: the frozen teacher runs in train mode (dropout on) while the student distils
            (True, authors [R]: it is never switched to eval) or in eval mode (False).
    """

    prototypes: str = "class"
    use_sample_weights: bool = True
    use_domain_loss: bool = True
    domain_loss_weight: float = 0.5
    teacher_weight_terms: str = "both"
    transferability_score: str = "code"
    token_mean_with_padding: bool = True
    instance_weighting: str = "per_instance"
    tkd_target_fit_dense: bool = False
    tkd_weight: float = 0.5
    schedule: str = "two_stage"
    pred_temperature: float = 1.0
    pred_lambda_weighting: bool = False
    split: str = "hrkd"
    teacher_variant: str = "meta"
    zero_shot: bool = False
    few_shot: float | None = None
    pred_ce_reduction: str = "mean_classes"
    corruption_skip_cls: bool = True
    head_input: str = "relu"
    teacher_train_mode: bool = True

    def __post_init__(self) -> None:
        check_choice("prototypes", self.prototypes, PROTOTYPES)
        check_choice("teacher_weight_terms", self.teacher_weight_terms, TEACHER_WEIGHT_TERMS)
        check_choice("transferability_score", self.transferability_score, SCORE_FORMULAS)
        check_choice("instance_weighting", self.instance_weighting, INSTANCE_WEIGHTING)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("split", self.split, SPLITS)
        check_choice("teacher_variant", self.teacher_variant, TEACHER_VARIANTS)
        check_choice("pred_ce_reduction", self.pred_ce_reduction, PRED_CE_REDUCTIONS)
        check_choice("head_input", self.head_input, HEAD_INPUTS)
        if self.pred_temperature <= 0:
            raise HrkdError(f"pred_temperature must be > 0, got {self.pred_temperature}")
        if self.domain_loss_weight < 0 or self.tkd_weight < 0:
            raise HrkdError(
                f"domain_loss_weight and tkd_weight must be >= 0, got "
                f"{self.domain_loss_weight} and {self.tkd_weight}"
            )
        if self.few_shot is not None and not 0 < self.few_shot <= 1:
            raise HrkdError(f"few_shot must be a fraction in (0, 1], got {self.few_shot}")
        if self.zero_shot and self.teacher_variant == "single":
            raise HrkdError("zero_shot needs teacher_variant 'meta' or 'mix' (a single-domain teacher "
                            "trained without its own domain has no data)")

    def with_overrides(self, **kwargs) -> MetaKDConfig:
        """A copy with some switches replaced (validated again)."""
        return replace(self, **kwargs)

    def to_dict(self) -> dict:
        return asdict(self)


def teacher_config_for(variant: str, base: MetaKDConfig | None = None) -> MetaKDConfig:
    """The switches that define a teacher variant: ``mix`` = meta without t_i or corruption loss."""
    base = base or MetaKDConfig()
    check_choice("teacher_variant", variant, TEACHER_VARIANTS)
    if variant == "meta":
        return base.with_overrides(teacher_variant="meta")
    return base.with_overrides(teacher_variant=variant, use_sample_weights=False, use_domain_loss=False,
                               zero_shot=base.zero_shot and variant != "single")
