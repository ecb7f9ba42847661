r"""HS3 (HEP Statistics Serialization Standard, ``hs3_version`` 0.2) for binned HistFactory
models: read, validate, build relaxed models, and convert to and from pyhf's JSON.

- :func:`load` reads a document (a mapping or a JSON file) into a validated, read-only
  :class:`HS3Workspace`; :meth:`HS3Workspace.model` builds the :class:`relaxed.Model` of an
  analysis, which :mod:`relaxed.infer` fits and tests like any other; ``ws.data(model)``
  gives its data; :meth:`HS3Workspace.logpdf` evaluates one distribution by parameter name.
- :func:`to_pyhf` and :func:`from_pyhf` translate between HS3 and pyhf's workspace format.
- A likelihood with ``unbinned`` data: :meth:`HS3Workspace.model` builds a
  :class:`relaxed.combined.CombinedModel` of its binned channels and one
  :class:`relaxed.unbinned.ExtendedModel` per unbinned pair (:mod:`relaxed.hs3.combine`);
  :meth:`HS3Workspace.unbinned` gives the unbinned pairs alone
  (:mod:`relaxed.hs3.unbinned`: what is read there, and what is refused).

Models are built through pyhf's format (with per-modifier interpolation codes, the
constraints relaxed's engine has beyond pyhf's, and staterror thresholds, which it lacks), so
they are exactly pyhf's likelihoods (ROOT's for a Poisson staterror, a Gauss shapesys or a
threshold; pyhs3's for a Poisson or LogNormal normsys/histosys). What that format cannot
express raises :class:`HS3NotSupported` ("not supported yet" from :meth:`HS3Workspace.model`,
"cannot be expressed in pyhf's JSON format" from :func:`to_pyhf`), naming the JSON path:
distributions other than ``histfactory_dist`` paired with binned data (a ``gaussian_dist``
is read only as the constraint of a luminosity normfactor; the unbinned pairs have their own
reading), constraints pyhf does not
have for a modifier type (models build ``Poisson`` and ``LogNormal`` on a
``normsys``/``histosys``, ``Gauss`` on a ``shapesys`` and ``Poisson`` on a ``staterror``, see
below; :func:`to_pyhf` refuses them; ``LogNormal`` on a ``shapesys``/``staterror`` is refused
by both, as no implementation defines it), interpolations pyhf (or, for models,
relaxed's engine) lacks for a modifier type, interpolations that differ between modifiers of
one type (for :func:`to_pyhf` only: models take them), parameters shared in ways pyhf's
parameter sets cannot represent, several parameters of interest, a ``staterror``
``relThreshold`` above 0 (for :func:`to_pyhf` only: models take it), functions used as
parameters.

Readings of the standard
------------------------
The standard leaves several points open; this package reads them as ROOT writes files and as
pyhf computes, and writes the same way:

- ``shapesys`` ``data.vals`` are **absolute** uncertainties of the sample's yields, as in
  pyhf and pyhs3: the Poisson constraint has :math:`\tau_b = (\nu_b/\sigma_b)^2`. Other
  readings exist in the wild: relative uncertainties (:math:`\tau_b = 1/\sigma_b^2`, e.g.
  some ROOT exports), or :math:`\tau_b` given directly (older ROOT importers; ROOT's own
  importer reads ``vals`` as :math:`\tau_b` for ``Poisson`` and as relative widths for
  ``Gauss``); the standard's prose ("central values defined as the squares of the values")
  is ambiguous between them. Files using another reading must be converted before loading.
- ``Gauss`` on a ``shapesys`` (ROOT supports it; pyhs3 0.4.2 does not): with the same
  absolute reading, :math:`\mathcal{N}(1 \mid \gamma_b, \sigma_b/\nu_b)`, exactly pyhf's
  staterror of that sample alone (bins without yield or uncertainty fixed, as for the
  Poisson one). Models build it (relaxed's ``modifier_settings["shapesys"]``), :func:`to_pyhf`
  refuses it, :func:`from_pyhf` writes it where that setting asks.
- ``histosys`` ``data.hi.contents``/``lo.contents`` are the full varied templates (as pyhf's
  ``hi_data``/``lo_data`` and ROOT), not differences to the nominal.
- ``staterror``: the sample's ``data.errors`` are absolute MC errors; the constraint is
  Gaussian with relative width :math:`\sqrt{\sum_s e_{sb}^2} / \sum_s \nu_{sb}` over the
  samples of the channel that carry it (pyhf). A missing ``constraint`` means ``Gauss``. A
  ``Poisson`` one (the distribution's ``staterror.constraint`` or the modifier's
  ``constraint``; the modifier's wins) is ROOT's
  :math:`\mathrm{Pois}(\tau_b \mid \tau_b\gamma_b)` with :math:`\tau_b = 1/\delta_b^2`,
  :math:`\delta_b` that relative width: models build it (relaxed's
  ``modifier_settings["staterror"]``, see :class:`relaxed.Model`), :func:`to_pyhf` refuses
  it (pyhf's staterror is Gaussian), and :func:`from_pyhf` writes it where that setting asks.
  The distribution's ``staterror.relThreshold`` :math:`r` (ROOT's threshold, default 0) is
  read as ROOT applies it: a bin with :math:`\delta_b < r` gets no staterror parameter; in
  models its :math:`\gamma_b` is fixed at 1 with a constant constraint term, as a bin without
  uncertainty (relaxed's ``modifier_settings["staterror"]["rel_threshold"]``, by pyhf set name
  under ``"rel_threshold_per_name"`` where distributions differ; a set spanning distributions
  with different thresholds is refused). :func:`to_pyhf` refuses :math:`r > 0`, and
  :func:`from_pyhf` writes it where that setting asks (one per distribution).
- ``normsys``/``histosys`` without ``constraint`` are Gaussian-constrained (ROOT always
  constrains them); ``shapesys`` without one is Poisson.
- ``Poisson`` on a ``normsys``/``histosys``: the standard's "unit Poissonian, a continuous
  Poissonian with central value 1", read literally, as pyhs3 0.4.2 reads it: the term
  :math:`\log\mathrm{Pois}(1 \mid \alpha) = \log\alpha - \alpha - \log\Gamma(2)` of the
  auxiliary datum 1 with mean :math:`\alpha` (relaxed's Poisson constraint
  :math:`\mathrm{Pois}(a \mid \tau\alpha)` with :math:`\tau = 1`, :math:`a = 1`;
  ``modifier_settings[type]["constraint"] = "poisson"``, by pyhf name under ``"per_name"``
  where only some are). Its nominal point :math:`\alpha = 1` is the ``hi`` variation and
  :math:`\alpha = 0`, the nominal yields, is the edge of its domain: it needs
  :math:`\alpha > 0`, so models give it init 1 and bounds (1e-10, 5), a domain or parameter
  point allowing :math:`\alpha \le 0` raises :class:`InvalidHS3`, and pseudo-experiments draw
  its auxiliary datum from :math:`\mathrm{Pois}(\alpha)`. ROOT's HS3 importer ignores
  ``constraint`` on normsys/histosys and always builds a Gaussian (``getConstraint`` in
  ``roofit/hs3/src/JSONFactories_HistFactory.cxx`` creates a ``RooGaussian``), so ROOT reads
  such a file as the Gaussian model. A parameter shared by several modifiers has one
  constraint term: modifiers declaring different constraints for it raise, naming both paths
  (a ``LogNormal`` counts as the ``Gauss`` it equals). :func:`to_pyhf` refuses it.
- ``LogNormal`` (or ``Lognormal``) on a ``normsys``/``histosys``: the standard's "unit
  LogNormal", read as pyhs3 reads it, a ``lognormal_dist`` of the auxiliary datum
  :math:`x = 1` with log-location :math:`\alpha` and log-scale 1. Its log-density,
  :math:`-\log x - \tfrac12\log 2\pi - \tfrac12(\log x - \alpha)^2`, is at :math:`x = 1`
  exactly the unit Gaussian constraint's, so models build the Gaussian (the tests check the
  logpdf against pyhs3). ROOT's own log-normal constraint of a systematic (a relative
  uncertainty and a transformed parameter) is another model, which this reading does not
  cover. A ``LogNormal`` on a ``shapesys`` or ``staterror`` (the modifier's or the
  distribution's ``staterror.constraint``) is defined by no implementation (pyhs3's schema
  allows only ``Poisson`` on a shapesys and ``Gauss``/``Poisson`` on a staterror; ROOT's
  exporter supports only RooPoisson and RooGaussian constraints) and is refused, by models and
  :func:`to_pyhf` alike; on other modifier types it is not supported.
- ``interpolation``: the standard's names ``lin``, ``parabolic``, ``poly6`` (histosys: pyhf
  code0, code2, code4p; normsys: code0, code2, code4p) and ``log`` (normsys: code1); pyhf's
  normsys default code4 (poly6 inside, exponential outside) has no name in that list and is
  written ``{"type": "mult", "in": "poly6", "out": "exp"}``; ROOT's integer codes are read.
  A missing interpolation means pyhf's defaults, which are ROOT's implicit code 4 (normsys
  code4, histosys code4p). :func:`from_pyhf` always writes it. relaxed's engine builds
  normsys code1/code4 and histosys code0/code2/code4p.
- Each modifier's ``interpolation`` is its own: modifiers of one type may differ (models get
  the most common code as the type's ``interpcode`` and the others as ``per_modifier``
  overrides of ``modifier_settings``, see :class:`relaxed.Model`); pyhf applies one code per
  type, so :func:`to_pyhf` raises for such a document unless ``strict_interpolation=False``.
- Parameter names: given ``parameter``/``parameters``, else ROOT's defaults (``alpha_<name>``
  for normsys/histosys, ``gamma_<name>_bin_<i>`` for shapesys/shapefactor,
  ``gamma_stat_<channel>_bin_<i>`` for staterror, the name for a normfactor).
- pyhf names parameter *sets*: a per-bin modifier is one set named after the modifier
  (``uncorr_bkguncrt`` with components ``uncorr_bkguncrt_0``, ``uncorr_bkguncrt_1``); staterror
  modifiers of one name in several channels form one set (pyhf's order: channels sorted);
  scalar parameters keep their HS3 names. :meth:`HS3Workspace.parameter_map` gives the map.
- Luminosity: pyhf's ``lumi`` is written as a ``normfactor`` named ``lumi`` with
  ``constraint_name`` naming a ``gaussian_dist`` (``mean`` the parameter, ``sigma`` a number),
  which the likelihood pairs with the auxiliary datum (an inline number), as ROOT writes it;
  such a normfactor is read back as pyhf's ``lumi`` (parameter set ``lumi``).
- Channel names are the distribution names without ROOT's ``model_`` prefix.
- ``parameter_points``: the one given, else the analysis's ``init``, else the only one, else
  ``default_values`` (ROOT's name). ``const`` fixes a parameter; pyhf fixes whole sets, so a
  point fixing only some bins of a set is supported only for bins pyhf fixes anyway (no yield
  or no uncertainty).
- Bounds come from the analysis's ``domains`` (or ``domain``); parameters no domain mentions
  keep pyhf's bounds.

Example:
    >>> import relaxed
    >>> spec = {"channels": [{"name": "SR", "samples": [
    ...     {"name": "sig", "data": [12.0, 11.0],
    ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
    ...     {"name": "bkg", "data": [50.0, 52.0],
    ...      "modifiers": [{"name": "unc", "type": "shapesys", "data": [3.0, 7.0]}]}]}],
    ...     "observations": [{"name": "SR", "data": [51.0, 48.0]}], "version": "1.0.0",
    ...     "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}]}
    >>> ws = relaxed.hs3.load(relaxed.hs3.from_pyhf(spec))
    >>> model = ws.model()
    >>> cls = relaxed.infer.hypotest(1.0, ws.data(model), model)
    >>> round(float(cls), 6)
    0.052516
    >>> relaxed.hs3.to_pyhf(ws)["channels"][0]["samples"][1]["modifiers"]
    [{'name': 'unc', 'type': 'shapesys', 'data': [3.0, 7.0]}]
"""

from relaxed.hs3.convert import pyhf_modifier_settings, to_pyhf
from relaxed.hs3.errors import HS3NotSupported, InvalidHS3
from relaxed.hs3.export import from_pyhf
from relaxed.hs3.translate import Translation
from relaxed.hs3.unbinned import UnbinnedPart, UnbinnedTranslation, translate_unbinned
from relaxed.hs3.workspace import DataSets, HS3Workspace, load

__all__ = [
    "DataSets",
    "HS3NotSupported",
    "HS3Workspace",
    "InvalidHS3",
    "Translation",
    "UnbinnedPart",
    "UnbinnedTranslation",
    "from_pyhf",
    "load",
    "pyhf_modifier_settings",
    "to_pyhf",
    "translate_unbinned",
]
