"""The model zoo as data: model-index.yml, the metafiles, and who reads them.

Every metafile entry parses with OpenMMLab's own ``modelindex`` loader and with wider_mm's,
names an existing config; every released file a model was converted from is in the registry
with the same MD5; mmpretrain's ``get_model`` knows the zoo names. (That the leaderboard
shows the metafiles' numbers: tests/evaluation/test_leaderboard.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wider_mm.evaluation.published import ZOO_DATASETS, find_published
from wider_mm.zoo import (
    MODEL_INDEX,
    RELEASED,
    ZooError,
    get_model_info,
    load_model_index,
    model_for_config,
)

ROOT = Path(__file__).resolve().parents[2]
METAFILES = sorted(ROOT.glob('configs/**/metafile.yaml'))
FAMILIES = ('segmentation', 'classification')


def _raw_models():
    for mf in METAFILES:
        for m in yaml.safe_load(mf.read_text())['Models']:
            yield mf, m


def test_every_metafile_is_indexed_and_parses_with_modelindex():
    from modelindex.load_model_index import load

    imported = yaml.safe_load(Path(MODEL_INDEX).read_text())['Import']
    assert sorted(ROOT / p for p in imported) == METAFILES
    index = load(MODEL_INDEX)  # what mim and mmpretrain read
    index.build_models_with_collections()
    ours = load_model_index()
    assert sorted(m.name for m in index.models) == sorted(ours)
    for m in index.models:
        assert m.in_collection and m.config == ours[m.name].config


SPLITS = ('train', 'val', 'test')


@pytest.mark.parametrize('family', FAMILIES)
def test_every_config_is_a_zoo_model_and_every_model_names_a_config(family):
    configs = sorted(
        p.relative_to(ROOT).as_posix() for p in (ROOT / 'configs' / family).glob('*.py')
    )
    models = [m for m in load_model_index().values() if m.config.startswith(f'configs/{family}/')]
    named = {m.config for m in models}
    missing = [c for c in configs if c not in named]
    assert not missing, f'configs without a model in a metafile.yaml of model-index.yml: {missing}'
    for m in models:
        assert Path(m.config_path).is_file(), f'{m.name}: no config {m.config}'
        assert m.metadata.get('Training Data') and m.metadata.get('Architecture'), m.name
        for r in m.results:
            # 'train': CAM mIoU, scored on the training images (configs/classification/psa)
            assert r['Dataset'] in ZOO_DATASETS and r.get('Split') in SPLITS, m.name
            assert all(0 < v < 100 for v in r['Metrics'].values()), m.name


def test_converted_from_is_the_registry():
    """The metafiles' `Converted From` and the registry of released files agree."""
    seen = set()
    for m in load_model_index().values():
        if not m.converted_from:
            continue
        entry = RELEASED.by_name(m.converted_from['Weights'])
        assert entry is not None, f'{m.name}: {m.converted_from["Weights"]} is not registered'
        assert entry.md5 == m.converted_from['MD5'], m.name
        seen.add(entry.name)
    for entry in RELEASED:
        if entry.zoo_model:
            model = get_model_info(entry.zoo_model)  # raises for an unknown name
            if model.converted_from:
                assert model.converted_from['Weights'] == entry.name
    assert len(seen) >= 7  # the authors' six files and MAP's


def test_lookups_and_errors(tmp_path):
    assert model_for_config('configs/segmentation/fcn_wrn38a1-d8_4xb4-40k_voc12aug-512x512.py')
    assert model_for_config('nothing.py') is None
    with pytest.raises(ZooError, match='did you mean widerhead_wrn38a1-d8_4xb4-40k_voc12aug'):
        get_model_info('widerhead_wrn38a1-d8_4xb4-40k_voc12aug-512x512')
    top1 = find_published('imagenet', 'top1_err', zoo_model='wrn38a1_8xb32_in1k-test320')
    assert [p.value for p in top1] == [19.54]
    bad = tmp_path / 'model-index.yml'
    bad.write_text('Import:\n- m.yaml\n')
    (tmp_path / 'm.yaml').write_text(
        'Collections: [{Name: C}]\nModels:\n- {Name: x, In Collection: D, Config: a.py, '
        'Metadata: {}, Results: []}\n'
    )
    with pytest.raises(ZooError, match="collection 'D'"):
        load_model_index(str(bad))


def test_mmpretrain_get_model_knows_the_zoo_names(tmp_path):
    import mmpretrain
    import torch

    assert 'wrn38a1_8xb32_in1k-test320' in mmpretrain.list_models('wrn38a1*')
    model = mmpretrain.get_model(
        'wrn16a1_8xb32_in1k', backbone=dict(widen_factor=1 / 32), head=dict(in_channels=128)
    )
    ckpt = tmp_path / 'w.pth'
    torch.save(
        dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=['a']))), ckpt
    )
    again = mmpretrain.get_model(
        'wrn16a1_8xb32_in1k',
        pretrained=str(ckpt),
        backbone=dict(widen_factor=1 / 32),
        head=dict(in_channels=128),
    )
    assert again._dataset_meta == {'classes': ['a']}  # what mmpretrain's inferencers read
    torch.testing.assert_close(again.backbone.stem.weight, model.backbone.stem.weight)
