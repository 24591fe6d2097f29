"""Verify gptforge's Hugging Face export with the Python ecosystem's own code.

Run by scripts/check-hf.mjs (`npm run check:hf`), which writes the fixture: exported model
directories with gptforge's logits for a fixed token sequence, texts with gptforge's ids,
and conversations with gptforge's chat ids. Checks, each printed as PASS/FAIL:
  - transformers loads each export (GPT-2, GPT-NeoX) and its logits are within 1e-4 of ours;
  - the tokenizer (AutoTokenizer over tokenizer.json) gives our ids exactly;
  - apply_chat_template gives our chat ids exactly (with and without the generation prompt);
  - with trl installed: a few SFTTrainer steps on the exported conversations, saved for
    `gptforge import` (the Node side imports it afterwards).
  - with peft installed: our LoRA adapter (adapter_config.json + adapter_model.safetensors)
    loads with PeftModel.from_pretrained on each export (GPT-2; GPT-NeoX with the adapter
    converted by `gptforge export --format peft`), logits within 1e-4 of ours.
"""
import json
import sys


def main() -> int:
    fx = json.load(open(sys.argv[1]))
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    failures = 0

    def report(ok: bool, what: str) -> None:
        nonlocal failures
        print(("PASS " if ok else "FAIL ") + what, flush=True)
        failures += 0 if ok else 1

    for m in fx["models"]:
        model = AutoModelForCausalLM.from_pretrained(m["dir"], torch_dtype=torch.float32)
        model.eval()
        with torch.no_grad():
            logits = model(torch.tensor([fx["ids"]])).logits[0].numpy()
        ours = np.array(m["logits"], dtype=np.float64).reshape(logits.shape)
        err = float(np.abs(logits - ours).max())
        report(err < 1e-4, f"{m['arch']}: transformers logits vs gptforge, max |diff| = {err:.2e} (limit 1e-4)")

        tok = AutoTokenizer.from_pretrained(m["dir"])
        bad = [i for i, (t, want) in enumerate(zip(fx["texts"], fx["textIds"])) if tok.encode(t, add_special_tokens=False) != want]
        report(not bad, f"{m['arch']}: tokenizer ids on {len(fx['texts'])} texts ({sum(len(t) for t in fx['texts'])} chars)" + (f", first mismatch text {bad[0]}" if bad else ""))
        for i, chat in enumerate(fx["chats"]):
            for gen, want in ((False, chat["ids"]), (True, chat.get("promptIds"))):
                if want is None:
                    continue
                msgs = chat["messages"] if not gen else chat["promptMessages"]
                got = tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=gen)
                if isinstance(got, dict) or hasattr(got, "keys"):
                    got = got["input_ids"]
                report(list(got) == want, f"{m['arch']}: apply_chat_template conversation {i}{' (generation prompt)' if gen else ''}")

    try:
        from peft import PeftModel
    except ImportError:
        print("SKIP peft: not installed (pip install peft)", flush=True)
    else:
        for m in fx["models"]:
            if "peft" not in m:
                continue
            base = AutoModelForCausalLM.from_pretrained(m["dir"], torch_dtype=torch.float32)
            model = PeftModel.from_pretrained(base, m["peft"]["dir"])
            model.eval()
            with torch.no_grad():
                logits = model(torch.tensor([fx["ids"]])).logits[0].numpy()
            ours = np.array(m["peft"]["logits"], dtype=np.float64).reshape(logits.shape)
            err = float(np.abs(logits - ours).max())
            report(err < 1e-4, f"{m['arch']}: PeftModel with our LoRA adapter vs gptforge, max |diff| = {err:.2e} (limit 1e-4)")

    try:
        import trl  # noqa: F401
        from datasets import load_dataset
        from trl import SFTConfig, SFTTrainer
    except ImportError:
        print("SKIP trl: not installed (pip install trl datasets)", flush=True)
    else:
        m = fx["models"][-1]
        tok = AutoTokenizer.from_pretrained(m["dir"])
        ds = load_dataset("json", data_files=fx["sftFile"], split="train")
        args = SFTConfig(output_dir=fx["trlOut"] + "-work", max_steps=3, per_device_train_batch_size=2, learning_rate=1e-4,
                         report_to=[], save_strategy="no", logging_steps=1, use_cpu=not torch.cuda.is_available())
        trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(m["dir"], torch_dtype=torch.float32), args=args,
                             train_dataset=ds, processing_class=tok)
        trainer.train()
        trainer.save_model(fx["trlOut"])
        tok.save_pretrained(fx["trlOut"])
        report(True, f"trl: 3 SFTTrainer steps on {fx['sftFile']}, saved to {fx['trlOut']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
