"""The mask cache of a case: masks keyed by structure, grid geometry and options.

A mask depends on the structure (or derived expression), the dose grid's geometry (shape,
origin, spacing) and the :class:`~dosecalc.mask_options.MaskOptions`; it does not depend
on the dose values.  So the physical DVH and the EQD2 DVH of one structure rasterise it
once.  The cache has two tiers: the most recently used dense masks (at most
:data:`MASK_CACHE_BYTES`, so that a case with 40 structures never keeps 40 large arrays
alive), and every mask in compact form (:mod:`dosecalc.masks.compact`: interior runs +
boundary fractions, a few MB for a whole 1 mm plan) within a budget sized to the case
(:func:`compact_budget_bytes`).  A mask that left the dense tier is expanded from its
compact form, bit for bit.

A third tier keeps the dose samples of sub-voxel masks on the case's physical grid
(within :data:`SAMPLE_CACHE_BYTES`): an EQD2 or BED DVH on a sub-voxel lattice converts
the interpolated physical dose (:func:`dosecalc.radiobiology_case.converted_samples`), the
very samples the physical DVH interpolated, so it reads them instead of interpolating
again (the trilinear gather was a third of the EQD2 DVHs' time on a 40-ROI plan).  With
them it keeps the order that sorted a mask's samples for an exact-mode DVH
(:meth:`MaskCache.keep_sort_order`, within :data:`ORDER_CACHE_BYTES`): the DVH of another
dose on the mask checks it in linear time instead of sorting again.

It is an explicit object (:attr:`dosecalc.case.Case.mask_cache`), mutable by design and
owned by one case; everything else about a case is frozen.  Its :attr:`MaskCache.lock`
guards both tiers: ``case.dvhs`` computes small structures side by side on threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["MaskCache", "MASK_CACHE_BYTES", "COMPACT_CACHE_MIN_BYTES", "SAMPLE_CACHE_BYTES", "ORDER_CACHE_BYTES",
           "compact_budget_bytes"]

#: Upper bound on the bytes of dense mask arrays kept in one case's cache: small, since
#: every mask is kept compact anyway and a large dense tier adds to the peak memory of a
#: fine grid (a 0.5 mm Body mask alone is 1 GB).
MASK_CACHE_BYTES = 64 * 1024 * 1024
#: The compact tier keeps at least this many bytes, or the dose grid's size if larger.
COMPACT_CACHE_MIN_BYTES = 256 * 1024 * 1024

#: Bytes of dose samples (16 per sample) of sub-voxel masks one case keeps.  A 40-ROI SRS
#: plan has 330 MB of them (20 M samples): 256 MB keep about 80 % of them, and add 0.24
#: GB to the peak memory of the 0.5 mm synthetic case (1.88 -> 2.12 GB measured; 512 MB
#: kept all of SRS's and added 0.35 GB).  Samples that do not fit are not kept (no
#: eviction: the DVHs of a case come in the same order each pass, and evicting the
#: oldest would make every look-up of the next pass miss).
SAMPLE_CACHE_BYTES = 256 * 1024 * 1024
#: Bytes of exact-mode sort orders (8 per sample, at most
#: :data:`dosecalc.dvh_curve.EXACT_LIMIT` samples per mask: 1.6 MB) one case keeps, apart
#: from the samples so that a full sample tier does not leave them out: 20 masks at the limit.
ORDER_CACHE_BYTES = 32 * 1024 * 1024


def compact_budget_bytes(grid) -> int:
    """Bytes of compact masks one case keeps: the dose grid's own size (at least
    :data:`COMPACT_CACHE_MIN_BYTES`).  Compact masks cost about their structures' surface,
    so every mask of a plan fits far below the size of the grid they are sampled on."""
    return max(COMPACT_CACHE_MIN_BYTES, int(grid.values_gy.nbytes))


def _trim(store: OrderedDict, budget: int, size) -> None:
    """Drop the least recently used entries until the rest fit in ``budget`` bytes (a
    single entry over the budget goes too: the caller holds it while it needs it)."""
    total = sum(size(m) for m in store.values())
    while total > budget and store:
        _, old = store.popitem(last=False)
        total -= size(old)


class MaskCache:
    """Bounded least-recently-used store of masks, dense and compact.

    Parameters
    ----------
    max_bytes : int, optional
        Budget of the dense masks' ``fraction`` arrays; default :data:`MASK_CACHE_BYTES`
        (read when the cache is trimmed).
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self._masks: OrderedDict = OrderedDict()
        self._compact: OrderedDict = OrderedDict()
        # (id(compact mask), id(grid)) -> (compact mask, grid, (dose, volume)); the entry
        # holds both objects, so their ids cannot be reused while it lives
        self._samples: dict = {}
        # id(compact mask) -> (compact mask, descending sort order of its last exact DVH)
        self._orders: dict = {}
        self._order_bytes = 0
        self._sample_bytes = 0
        #: Held around every look-up and store (re-entrant).
        self.lock = threading.RLock()

    def get(self, key):
        """The dense mask stored under ``key`` (now the most recently used), or None."""
        with self.lock:
            mask = self._masks.get(key)
            if mask is not None:
                self._masks.move_to_end(key)
            return mask

    def get_compact(self, key):
        """The compact mask stored under ``key`` (now the most recently used), or None."""
        with self.lock:
            packed = self._compact.get(key)
            if packed is not None:
                self._compact.move_to_end(key)
            return packed

    def put(self, key, mask) -> None:
        """Store a dense ``mask``; drop the least recently used beyond the byte budget."""
        with self.lock:
            self._masks[key] = mask
            budget = MASK_CACHE_BYTES if self.max_bytes is None else self.max_bytes
            _trim(self._masks, budget, lambda m: m.fraction.nbytes)

    def put_compact(self, key, packed, budget: int) -> None:
        """Store a compact mask; drop the least recently used beyond ``budget`` bytes
        (:func:`compact_budget_bytes` of the grid)."""
        with self.lock:
            self._compact[key] = packed
            _trim(self._compact, budget, lambda c: c.nbytes)
            self._drop_orphan_samples()

    def _drop_orphan_samples(self) -> None:
        # samples of a compact mask the tier no longer holds are never asked for again (a
        # rebuilt mask is a new object): without this they would hold their bytes of the
        # sample budget, and the mask itself, for the life of the case
        live = {id(c) for c in self._compact.values()}
        for key in [k for k, entry in self._samples.items() if id(entry[0]) not in live]:
            d, v = self._samples.pop(key)[2]
            self._sample_bytes -= d.nbytes + v.nbytes
        for key in [k for k, entry in self._orders.items() if id(entry[0]) not in live]:
            self._order_bytes -= self._orders.pop(key)[1].nbytes

    def _holds(self, packed) -> bool:
        # (call with the lock held) kept samples and orders live only as long as their mask
        return any(c is packed for c in self._compact.values())

    def samples(self, packed, grid, compute):
        """The ``(dose_gy, volume_cc)`` samples of compact mask ``packed`` on ``grid``:
        kept ones, or ``compute()``'s (kept while the compact tier holds ``packed``, within
        :data:`SAMPLE_CACHE_BYTES`).

        The samples depend on the dose values, so the key is the grid object itself
        (frozen) with the mask object.  ``compute`` runs outside the lock; the arrays
        handed out are shared and must only be read."""
        key = (id(packed), id(grid))
        with self.lock:
            hit = self._samples.get(key)
        if hit is not None and hit[0] is packed and hit[1] is grid:
            return hit[2]
        d, v = compute()
        size = d.nbytes + v.nbytes
        with self.lock:
            held = self._holds(packed)
            if held and key not in self._samples and self._sample_bytes + size <= SAMPLE_CACHE_BYTES:
                self._samples[key] = (packed, grid, (d, v))
                self._sample_bytes += size
        return d, v

    def sort_order(self, packed):
        """The sample order kept by :meth:`keep_sort_order` for compact mask ``packed``, or
        None.  Only a hint: the DVH checks it before use
        (:func:`dosecalc.dvh_curve.stable_descending`)."""
        with self.lock:
            hit = self._orders.get(id(packed))
        return hit[1] if hit is not None and hit[0] is packed else None

    def keep_sort_order(self, packed, order) -> None:
        """Keep the order that sorted the samples of ``packed`` for its exact-mode DVH
        (read-only, int64): the DVH of another dose on the same mask (EQD2/BED: a
        monotonic function of the physical dose) is most often in the same order, which
        a linear check confirms where a sort costs ``N log N``.  Kept while the compact
        tier holds ``packed``, within :data:`ORDER_CACHE_BYTES`."""
        with self.lock:
            held = self._holds(packed)
            old = self._orders.get(id(packed))
            if old is not None and old[0] is packed:
                self._order_bytes -= old[1].nbytes
                del self._orders[id(packed)]
            if held and self._order_bytes + order.nbytes <= ORDER_CACHE_BYTES:
                self._orders[id(packed)] = (packed, order)
                self._order_bytes += order.nbytes

    def values(self) -> list:
        """The dense masks held, least recently used first."""
        with self.lock:
            return list(self._masks.values())

    def __len__(self) -> int:
        return len(self._masks)

    def clear(self) -> None:
        with self.lock:
            self._masks.clear()
            self._compact.clear()
            self._samples.clear()
            self._orders.clear()
            self._order_bytes = 0
            self._sample_bytes = 0

    def __repr__(self) -> str:
        return f"MaskCache({len(self._masks)} dense, {len(self._compact)} compact masks)"
