"""Explaining a prediction and a channel: Grad-CAM, saliency, occlusion, receptive
fields, feature visualisation."""
