"""Model definitions shared by the stages (timm-registered ViTs, adapters)."""
