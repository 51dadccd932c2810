"""Pictures: safe image loading, mosaics of maps, filters as pictures, figures, camera
and video frames."""
