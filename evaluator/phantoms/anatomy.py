"""The patient's anatomy: geometry drawn from the seed, and its smooth fields on the coarse grid.

Patient frame (mm): origin on the body axis in-plane and at the lowest lung point (the deepest
costophrenic recess) along z; X grows to the patient's left, Y posterior, Z superior (the output
voxel axes). ``t = Z / height`` runs from 0 at the lung bases to 1 at the apices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluator.phantoms.grid import CoarseGrid, Grid
from evaluator.phantoms.random_fields import smooth_noise
from evaluator.phantoms.shapes import FAR, Axes, blend, ellipsoid_sd, index_range, soft, union_capsule

AIR_HU = -1000.0
FAT_HU = -100.0
MUSCLE_HU = 45.0
BLOOD_HU = 40.0
LIVER_HU = 58.0

#: Lobe labels of :attr:`AnatomyFields.lobes`.
LOBES = {1: "right upper", 2: "right middle", 3: "right lower", 4: "left upper", 5: "left lower"}


@dataclass(frozen=True, slots=True)
class Hilum:
    """Where one lung's trees enter it (patient frame, mm)."""

    artery: tuple[float, float, float]
    vein: tuple[float, float, float]
    bronchus: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Anatomy:
    """One patient's geometry; lengths in mm (patient frame), heights ``t_*`` as fractions of ``height``."""

    centre: tuple[float, float, float]  # patient-frame origin, in mm from output voxel (0, 0, 0)
    height: float
    scale_z: float  # squeeze of craniocaudal lengths when the scan is shorter than the lungs
    body: tuple[float, float, float]  # half width, half depth, superellipse exponent
    fat: tuple[float, float]  # subcutaneous fat: everywhere, extra anteriorly
    cavity: tuple[float, float, float]  # half width, half depth, centre Y of the rib cage's inside
    harmonics: tuple[tuple[int, float, float], ...]
    x_mid: float
    mediastinum: tuple[float, float]  # half width, extra half width superiorly
    heart_centre: tuple[float, float, float]
    heart_radii: tuple[float, float, float]
    aorta: tuple[float, float, float, float]  # radius, descending X, descending Y, t of the arch
    spine: tuple[float, float, float, float]  # Y of the vertebral bodies, radius, period, phase
    trachea: tuple[float, float, float]  # Y, outer radius, t of the carina
    ribs: tuple[float, float, float, float, float]  # period, phase, slope, thickness, height fraction
    domes: tuple[float, float]  # t of the right and left diaphragm domes
    fissures: tuple[float, float, float]  # oblique anterior t, oblique posterior t, right horizontal t
    lung_hu: float
    dependent: tuple[float, float, float]  # AP gradient (HU), posterior subpleural band (HU), band width (mm)
    hila: tuple[Hilum, Hilum]  # right, left


@dataclass(frozen=True, slots=True)
class AnatomyFields:
    """Smooth fields of one patient on the coarse grid (float32 unless said)."""

    grid: CoarseGrid
    hu: np.ndarray  # tissue HU without thin structures and noise
    sd_right: np.ndarray  # signed distance to the right lung's surface (mm, > 0 inside)
    sd_left: np.ndarray
    sd_pleura: np.ndarray  # distance to the costal and diaphragmatic pleura (mm)
    lobes: np.ndarray  # uint8, see LOBES
    axes: Axes  # patient-frame coordinates of the coarse samples (broadcastable)

    def lung_sd(self, side: int) -> np.ndarray:
        return self.sd_right if side == 1 else self.sd_left


def sample_anatomy(grid: Grid, rng: np.random.Generator, *, dependent_exponent: float = 1.5) -> Anatomy:
    """Draw a patient that fits the scan's field of view (scaled down in-plane or along z if it does not).

    ``dependent_exponent``: the posterior subpleural band's HU is 420 × u ** exponent (``cohorts.Background``).
    """
    u = rng.uniform
    fov = [n * s for n, s in zip(grid.shape, grid.spacing, strict=True)]
    a_body = u(140.0, 172.0)
    b_body = a_body * u(0.62, 0.76)
    s = min(1.0, 0.88 * fov[0] / (2 * a_body), 0.80 * fov[1] / (2 * b_body + 25.0))
    a_body, b_body = a_body * s, b_body * s
    extent_z = grid.extent_mm[2]
    natural_height = u(225.0, 280.0) * np.sqrt(a_body / (155.0 * s))
    height = min(natural_height, 0.84 * extent_z)
    sz = height / natural_height
    free = extent_z - height
    top = free * u(0.25, 0.6)
    room_x = max(0.0, (fov[0] - 2 * a_body) / 2 - 5.0)
    room_y = max(0.0, (fov[1] - 2 * b_body) / 2 - 15.0)
    centre = (
        grid.extent_mm[0] / 2 + u(-0.5, 0.5) * room_x,
        grid.extent_mm[1] / 2 + u(-0.6, 0.3) * room_y,
        free - top,
    )
    fat_base = u(5.0, 20.0) * s
    wall_x = fat_base + u(12.0, 20.0) * s
    wall_y = fat_base + u(14.0, 22.0) * s
    a_cav, b_cav = a_body - wall_x, max(b_body - wall_y, 0.55 * b_body)
    yc = u(0.0, 0.08) * b_body
    x_mid = u(-6.0, 8.0) * s
    med_w0 = u(7.0, 13.0) * s
    r_vb = u(15.0, 20.0) * s
    y_vb = yc + b_cav - 0.7 * r_vb
    y_tr = y_vb - r_vb - u(12.0, 18.0) * s
    t_carina = u(0.6, 0.68)
    z_carina = t_carina * height
    hila = []
    for sign in (-1.0, 1.0):
        lateral = x_mid + sign * (med_w0 + u(0.0, 5.0) * s)
        t_artery = u(0.55, 0.63) + (0.03 if sign > 0 else 0.0)
        bronchus_drop = (u(15.0, 25.0) if sign < 0 else u(28.0, 40.0)) * sz
        hila.append(
            Hilum(
                artery=(lateral, yc - b_cav * u(0.0, 0.15), t_artery * height),
                vein=(lateral, yc + b_cav * u(-0.1, 0.1), u(0.40, 0.48) * height),
                bronchus=(x_mid + sign * (med_w0 + 3.0 * s), y_tr + 8.0 * s, z_carina - bronchus_drop),
            )
        )
    dome_r = u(0.18, 0.30)
    return Anatomy(
        centre=centre,
        height=height,
        scale_z=sz,
        body=(a_body, b_body, u(2.1, 2.6)),
        fat=(fat_base, u(0.0, 15.0) * s),
        cavity=(a_cav, b_cav, yc),
        harmonics=tuple((k, u(-0.03, 0.03), u(0.0, 2 * np.pi)) for k in (2, 3, 4)),
        x_mid=x_mid,
        mediastinum=(med_w0, u(10.0, 22.0) * s),
        heart_centre=(x_mid + u(12.0, 28.0) * s, yc - b_cav * u(0.1, 0.3), u(0.16, 0.26) * height),
        heart_radii=(u(52.0, 68.0) * s, u(40.0, 52.0) * s, u(45.0, 58.0) * sz),
        aorta=(u(11.0, 14.0) * s, x_mid + r_vb + u(6.0, 12.0) * s, y_vb - u(0.0, 8.0) * s, u(0.70, 0.78)),
        spine=(y_vb, r_vb, u(24.0, 28.0) * sz, u(0.0, 1.0)),
        trachea=(y_tr, u(8.5, 11.0) * s, t_carina),
        ribs=(u(24.0, 30.0) * sz, u(0.0, 1.0), u(40.0, 70.0) * sz, u(7.0, 10.0) * s, u(0.35, 0.45)),
        domes=(dome_r, dome_r - u(0.02, 0.08)),
        fissures=(u(0.0, 0.08), u(0.55, 0.68), u(0.45, 0.58)),
        # Inspiration level: a well-inflated lung at -900 HU, a shallow breath up to -790 HU.
        lung_hu=-900.0 + 110.0 * u(0.0, 1.0) ** 1.5,
        # Supine CT: the posterior (dependent) lung is denser, most of all just inside the posterior pleura.
        dependent=(u(40.0, 120.0), u(0.0, 1.0) ** dependent_exponent * 420.0, u(4.0, 20.0) * s),
        hila=(hila[0], hila[1]),
    )


def patient_axes(grid: CoarseGrid, anatomy: Anatomy) -> Axes:
    """Patient-frame coordinates (mm) of the coarse samples."""
    x, y, z = grid.axes_mm()
    cx, cy, cz = (np.float32(c) for c in anatomy.centre)
    return x - cx, y - cy, z - cz


def _cavity_profile(t: np.ndarray) -> np.ndarray:
    """Scale of the rib cage's cross-section along z: widest at the bases, closing at the apices."""
    upper = np.sqrt(np.clip(1.0 - ((t - 0.55) / 0.46) ** 2, 0.0, 1.0))
    lower = 1.0 + 0.08 * np.clip((0.55 - t) / 0.55, 0.0, 1.0)
    return np.where(t <= 0.55, lower, upper).astype(np.float32)


def _diaphragm(anatomy: Anatomy, x: np.ndarray, yc: np.ndarray, side: int) -> np.ndarray:
    """Height (mm) of one hemidiaphragm over the plane: a dome, lowest at the posterolateral recess."""
    a_cav, b_cav, _ = anatomy.cavity
    sign = -1.0 if side == 1 else 1.0
    x_dome = anatomy.x_mid + sign * 0.45 * a_cav
    across = (x - np.float32(x_dome)) / np.float32(0.75 * a_cav)
    along = (yc + np.float32(0.1 * b_cav)) / np.float32(1.1 * b_cav)
    q = 1.0 - across**2 - along**2
    dome = np.clip(q, 0.0, 1.0) ** np.float32(0.6)
    lift = np.float32(0.08) * np.clip(-yc / np.float32(b_cav), 0.0, 1.0)
    return np.float32(anatomy.height) * (np.float32(anatomy.domes[side - 1]) * dome + lift)


def build_fields(anatomy: Anatomy, grid: CoarseGrid, rng: np.random.Generator) -> AnatomyFields:
    """Evaluate the anatomy on the coarse grid: HU image (no vessels, no noise), lung distances, lobes."""
    axes = patient_axes(grid, anatomy)
    x, y, z = axes
    h = grid.voxel_size_mm
    height = np.float32(anatomy.height)
    t = z / height
    a_body, b_body, p_body = anatomy.body
    a_cav, b_cav, y_cav = anatomy.cavity
    yc = y - np.float32(y_cav)
    f32 = np.float32

    # In-plane (2-D) geometry: body outline, rib-cage radius along each ray.
    g_body = (np.abs(x / f32(a_body)) ** f32(p_body) + np.abs(y / f32(b_body)) ** f32(p_body)) ** f32(1.0 / p_body)
    r_body = np.hypot(x, y)
    sd_body = r_body / np.maximum(g_body, f32(1e-4)) - r_body
    alpha_body = soft(sd_body, h)
    fat_thickness = f32(anatomy.fat[0]) + f32(anatomy.fat[1]) * np.clip(-y / f32(b_body), 0.0, 1.0)
    alpha_fat = soft(fat_thickness - sd_body, h)
    r_cav = np.hypot(x, yc)
    theta = np.arctan2(x, yc)  # 0 posterior, ±π anterior
    q_cav = np.hypot(x / f32(a_cav), yc / f32(b_cav))
    ray = np.divide(r_cav, q_cav, out=np.full_like(r_cav, f32(min(a_cav, b_cav))), where=q_cav > 1e-6)
    wobble = np.ones_like(theta)
    for k, eps, phase in anatomy.harmonics:
        wobble += f32(eps) * np.cos(f32(k) * theta + f32(phase))
    ray *= wobble
    sd_cavity = ray * _cavity_profile(t) - r_cav  # 3-D
    z_dia = np.where(x < anatomy.x_mid, _diaphragm(anatomy, x, yc, 1), _diaphragm(anatomy, x, yc, 2))
    above_dia = z - z_dia  # 3-D, mm above the diaphragm
    sd_pleura = np.minimum(sd_cavity, above_dia)

    # Mediastinum: the union of everything between the lungs (signed distance, > 0 inside).
    med_w0, med_sup = anatomy.mediastinum
    width = f32(med_w0) + f32(med_sup) * np.clip((t - f32(0.6)) / f32(0.3), 0.0, 1.0)
    mediastinum = np.full(sd_cavity.shape, FAR, dtype=np.float32)
    width = width + f32(6.0) * np.clip(yc / f32(b_cav), 0.0, 1.0)  # wider behind the heart (oesophagus, azygos)
    np.maximum(mediastinum, width - np.abs(x - f32(anatomy.x_mid)), out=mediastinum)
    y_vb, r_vb, _, _ = anatomy.spine
    np.maximum(mediastinum, f32(r_vb + 6.0) - np.hypot(x, y - f32(y_vb)), out=mediastinum)
    heart_box = tuple(
        index_range(ax, c - r - 10.0, c + r + 10.0)
        for ax, c, r in zip(axes, anatomy.heart_centre, anatomy.heart_radii, strict=True)
    )
    heart_axes = (x[heart_box[0]], y[:, heart_box[1]], z[:, :, heart_box[2]])
    sd_heart = np.full(sd_cavity.shape, FAR, dtype=np.float32)
    sd_heart[heart_box] = ellipsoid_sd(heart_axes, anatomy.heart_centre, anatomy.heart_radii)
    np.maximum(mediastinum, sd_heart + f32(4.0), out=mediastinum)
    r_ao, x_desc, y_desc, t_arch = anatomy.aorta
    hx, hy, hz = anatomy.heart_centre
    z_arch = t_arch * anatomy.height
    asc_top = (anatomy.x_mid - 8.0, y_cav - 0.35 * b_cav, z_arch)
    aorta_parts = (
        ((hx - 20.0, hy - 5.0, hz + 0.5 * anatomy.heart_radii[2]), asc_top),
        (asc_top, (x_desc, y_desc, z_arch + 5.0)),
        ((x_desc, y_desc, z_arch + 5.0), (x_desc, y_desc, -0.3 * anatomy.height)),
    )
    sd_aorta = np.full(sd_cavity.shape, FAR, dtype=np.float32)
    for a, b in aorta_parts:
        union_capsule(sd_aorta, axes, a, b, r_ao, margin=2 * h)
    np.maximum(mediastinum, sd_aorta + f32(3.0), out=mediastinum)
    sd_vessels = np.full(sd_cavity.shape, FAR, dtype=np.float32)
    for a, b, radius in _great_vessels(anatomy):
        union_capsule(sd_vessels, axes, a, b, radius, margin=2 * h)
    np.maximum(mediastinum, sd_vessels + f32(2.0), out=mediastinum)
    y_tr, r_tr, t_carina = anatomy.trachea
    carina = (anatomy.x_mid, y_tr, t_carina * anatomy.height)
    airway = np.full(sd_cavity.shape, FAR, dtype=np.float32)
    union_capsule(airway, axes, carina, (anatomy.x_mid, y_tr, anatomy.height * 3.0), r_tr, margin=2 * h)
    for hilum in anatomy.hila:
        union_capsule(airway, axes, carina, hilum.bronchus, 0.75 * r_tr, margin=2 * h)
    np.maximum(mediastinum, airway + f32(3.0), out=mediastinum)

    # Lungs: inside the rib cage, above the diaphragm, outside the mediastinum, on their side.
    common = np.minimum(sd_pleura, -mediastinum)
    sd_right = np.minimum(common, f32(anatomy.x_mid) - x)
    sd_left = np.minimum(common, x - f32(anatomy.x_mid))
    del common

    # Tissue HU inside the body.
    tissue = np.full(sd_cavity.shape, f32(MUSCLE_HU), dtype=np.float32)
    blend(tissue, FAT_HU, np.broadcast_to(alpha_fat, tissue.shape))
    abdomen = soft(-above_dia, h)
    organ_hu = np.where(x < anatomy.x_mid + 25.0, f32(LIVER_HU), f32(BLOOD_HU))
    content = f32(FAT_HU + 10.0) + (organ_hu - f32(FAT_HU + 10.0)) * abdomen
    blend(tissue, content, soft(sd_cavity + f32(2.0), h))
    del content, abdomen
    blend(tissue, BLOOD_HU, soft(sd_heart, h))
    blend(tissue, BLOOD_HU + 5.0, soft(sd_aorta, h))
    blend(tissue, BLOOD_HU, soft(sd_vessels, h))
    blend(tissue, 30.0, soft(airway, h))
    lumen = np.full(sd_cavity.shape, FAR, dtype=np.float32)
    union_capsule(lumen, axes, carina, (anatomy.x_mid, y_tr, anatomy.height * 3.0), r_tr - 2.0, margin=2 * h)
    for hilum in anatomy.hila:
        union_capsule(lumen, axes, carina, hilum.bronchus, 0.75 * r_tr - 1.5, margin=2 * h)
    blend(tissue, AIR_HU, soft(lumen, h))
    del lumen, airway, sd_aorta, sd_heart, sd_vessels, mediastinum
    _add_bones(tissue, anatomy, axes, h, sd_cavity=sd_cavity, theta=theta, t=t)

    # Lung parenchyma: denser towards the dependent (posterior) side, faint texture.
    grad, band_hu, band_mm = anatomy.dependent
    posterior = np.clip(yc / f32(b_cav), 0.0, 1.0)
    parenchyma = f32(anatomy.lung_hu) + f32(grad) * np.clip((yc + f32(b_cav)) / f32(2 * b_cav), 0.0, 1.0)
    band = np.exp(-np.maximum(sd_pleura, 0.0) / f32(band_mm)) * (f32(band_hu) * posterior**2)
    parenchyma = parenchyma + band
    parenchyma += f32(12.0) * smooth_noise(rng, grid.shape, grid.spacing, scale_mm=15.0)
    lungs_sd = np.maximum(sd_right, sd_left)
    blend(tissue, parenchyma, soft(lungs_sd, h))
    del parenchyma, band

    hu = f32(AIR_HU) + (tissue + f32(-AIR_HU)) * alpha_body
    del tissue
    _add_table(hu, anatomy, axes, h)

    lobes = _lobes(anatomy, axes, sd_right, sd_left)
    return AnatomyFields(
        grid=grid, hu=hu, sd_right=sd_right, sd_left=sd_left, sd_pleura=sd_pleura, lobes=lobes, axes=axes
    )


def _great_vessels(anatomy: Anatomy) -> list[tuple[tuple[float, float, float], tuple[float, float, float], float]]:
    """Capsules (a, b, radius) of the pulmonary trunk and arteries, the pulmonary veins and the superior vena cava."""
    s = anatomy.body[0] / 155.0
    _, b_cav, y_cav = anatomy.cavity
    hx, hy, hz = anatomy.heart_centre
    top = hz + 0.8 * anatomy.heart_radii[2]
    right, left = anatomy.hila
    z_bif = min(right.artery[2], left.artery[2]) - 5.0
    trunk_start = (hx - 5.0 * s, hy - 0.4 * anatomy.heart_radii[1], top - 10.0)
    bifurcation = (anatomy.x_mid + 8.0 * s, y_cav - 0.05 * b_cav, z_bif)
    atrium = (hx - 10.0 * s, hy + 0.6 * anatomy.heart_radii[1], hz + 0.4 * anatomy.heart_radii[2])
    svc_x = anatomy.x_mid - 22.0 * s
    return [
        (trunk_start, bifurcation, 13.0 * s),
        (bifurcation, right.artery, 9.5 * s),
        (bifurcation, left.artery, 9.0 * s),
        (atrium, right.vein, 7.0 * s),
        (atrium, left.vein, 7.0 * s),
        ((svc_x, y_cav - 0.3 * b_cav, hz), (svc_x, y_cav - 0.25 * b_cav, 1.2 * anatomy.height), 10.0 * s),
    ]


def _add_bones(tissue: np.ndarray, anatomy: Anatomy, axes: Axes, h: float, *, sd_cavity: np.ndarray,
               theta: np.ndarray, t: np.ndarray) -> None:
    """Spine (vertebral bodies, discs, posterior arch), ribs with costal cartilage, sternum."""
    x, y, z = axes
    f32 = np.float32
    y_vb, r_vb, v_period, v_phase = anatomy.spine
    d_vb = np.hypot(x, y - f32(y_vb))
    vb_hu = np.where(d_vb > r_vb - 2.5, f32(700.0), f32(230.0))
    phase = z / f32(v_period) + f32(v_phase)
    disc = (phase - np.floor(phase)) < f32(5.0 * anatomy.scale_z / v_period)
    spine_hu = np.where(disc, f32(90.0), vb_hu)
    blend(tissue, spine_hu, np.broadcast_to(soft(f32(r_vb) - d_vb, h), tissue.shape))
    s = anatomy.body[0] / 155.0
    y_canal = y_vb + r_vb + 8.0 * s
    d_canal = np.hypot(x, y - f32(y_canal))
    spinous = np.hypot(x, y - np.clip(y, f32(y_canal + 10.0 * s), f32(y_canal + 40.0 * s)))
    arch = np.maximum(f32(13.0 * s) - d_canal, f32(5.0 * s) - spinous)
    blend(tissue, 600.0, np.broadcast_to(soft(arch, h), tissue.shape))
    blend(tissue, 20.0, np.broadcast_to(soft(f32(7.0 * s) - d_canal, h), tissue.shape))

    period, phase0, slope, thickness, height_frac = anatomy.ribs
    angle = np.abs(theta) / f32(np.pi)
    u = (-sd_cavity - f32(2.5)) / f32(thickness / 2) - f32(1.0)
    rib_phase = (z + f32(slope) * angle) / f32(period) + f32(phase0)
    v = ((rib_phase - np.floor(rib_phase)) - f32(height_frac / 2)) / f32(height_frac / 2)
    q = np.sqrt(u * u + v * v)
    present = ((np.abs(x) > r_vb + 4.0) & (angle < 0.93)).astype(np.float32)
    present = present * ((t > -0.15) & (t < 1.0)).astype(np.float32)
    alpha = soft((f32(1.0) - q) * f32(thickness / 2), h) * present
    rib_hu = np.where(angle > 0.83, f32(120.0), f32(280.0) + f32(620.0) * np.clip((q - f32(0.5)) / f32(0.4), 0.0, 1.0))
    blend(tissue, rib_hu, alpha)

    _, b_cav, y_cav = anatomy.cavity
    sternum = f32(1.0) - np.hypot(x / f32(14.0 * s), (y - f32(y_cav - b_cav - 8.0 * s)) / f32(6.0 * s))
    along = ((t > 0.28) & (t < 0.98)).astype(np.float32)
    blend(tissue, 450.0, soft(sternum * f32(6.0 * s), h) * along)


def _add_table(hu: np.ndarray, anatomy: Anatomy, axes: Axes, h: float) -> None:
    """The scanner table: a thin curved plate under the patient's back."""
    x, y, _ = axes
    a_body, b_body, _ = anatomy.body
    y_table = np.float32(b_body + 8.0) - np.float32(1.0 / (8.0 * a_body)) * x * x
    plate = np.float32(3.0) - np.abs(y - y_table)
    alpha = soft(plate, h) * (np.abs(x) < 1.2 * a_body).astype(np.float32)
    blend(hu, 60.0, np.broadcast_to(alpha, hu.shape))


def lobe_sd(anatomy: Anatomy, axes: Axes, lobe: int) -> np.ndarray:
    """Signed distance (mm, > 0 inside) to the fissures bounding ``lobe`` (see LOBES); the pleura is not included.

    The oblique fissures rise from the anterior lung base to ``t_post`` at the back; the right horizontal
    fissure is the plane ``t = t_hor``.
    """
    _, y, z = axes
    _, b_cav, y_cav = anatomy.cavity
    t_ant, t_post, t_hor = anatomy.fissures
    height = np.float32(anatomy.height)
    frac = np.clip((y - np.float32(y_cav - b_cav)) / np.float32(2 * b_cav), 0.0, 1.0)
    z_oblique = height * (np.float32(t_ant) + np.float32(t_post - t_ant) * frac)
    slope = float(anatomy.height * (t_post - t_ant) / (2 * b_cav))
    below_oblique = (z_oblique - z) * np.float32(1.0 / np.sqrt(1.0 + slope * slope))
    below_horizontal = np.float32(t_hor) * height - z
    if lobe in (3, 5):
        return below_oblique
    if lobe == 4:
        return -below_oblique
    if lobe == 2:
        return np.minimum(-below_oblique, below_horizontal)
    if lobe == 1:
        return np.minimum(-below_oblique, -below_horizontal)
    raise ValueError(f"unknown lobe {lobe}")


def _lobes(anatomy: Anatomy, axes: Axes, sd_right: np.ndarray, sd_left: np.ndarray) -> np.ndarray:
    """Lobe labels (uint8, see LOBES) of the lung samples."""
    lobes = np.zeros(sd_right.shape, dtype=np.uint8)
    for lobe, lung in ((1, sd_right), (2, sd_right), (3, sd_right), (4, sd_left), (5, sd_left)):
        lobes[(lung > 0) & (lobe_sd(anatomy, axes, lobe) > 0)] = lobe
    return lobes
