"""The whole run recipe beyond Chinchilla: inference-aware sizing (Sardana), over-training (Gadre),
repeated data (Muennighoff), learning rate and batch size (DeepSeek, Step Law), vision models, and checks of
quoted compute figures. Each module is pure computation on top of planner.core; nothing here imports Streamlit."""
