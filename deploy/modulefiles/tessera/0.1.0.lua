-- Lmod modulefile for tessera 0.1.0.
--
-- Installed by `cmake --install BUILD --prefix PREFIX` as PREFIX/share/modulefiles/tessera/0.1.0.lua,
-- so `module use PREFIX/share/modulefiles; module load tessera/0.1.0` finds PREFIX from this file's
-- own path (the install is relocatable). Used from a source checkout (MODULEPATH=deploy/modulefiles),
-- or copied into a site's module tree, set TESSERA_PREFIX to the install prefix before loading.
--
-- tessera is linked against the MPI, HDF5 and htslib it was built with (Debian: Open MPI 4.1,
-- libhdf5-openmpi, libhts). A site that provides those as modules should add its own
-- depends_on(...) lines here for the same versions.

local version = "0.1.0"

help([[
tessera ]] .. version .. [[: reads -> cohort-wide allele statistics under MPI.

  sbatch tessera.sbatch --ref REF.fa --samples SHEET.tsv --out DIR   (template: deploy/slurm/)
  srun --mpi=pmix tessera run --ref REF.fa --samples SHEET.tsv --out DIR
  tessera --version | tessera info | tessera inspect DIR

Documentation: PREFIX/share/doc/tessera/
]])

whatis("Name: tessera")
whatis("Version: " .. version)
whatis("Description: distributed MPI pipeline from sequencing reads to cohort allele statistics")

local prefix = os.getenv("TESSERA_PREFIX") or ""
if prefix == "" then
  -- PREFIX/share/modulefiles/tessera/<version>.lua -> PREFIX
  local from_path, n = myFileName():gsub("/share/modulefiles/[^/]+/[^/]+%.lua$", "")
  if n == 1 then
    prefix = from_path
  end
end
if mode() ~= "unload" and (prefix == "" or not isFile(pathJoin(prefix, "bin", "tessera"))) then
  LmodError("tessera/" .. version .. ": no bin/tessera under '" .. prefix .. "'. Load it from " ..
            "PREFIX/share/modulefiles of a `cmake --install` prefix, or set TESSERA_PREFIX=PREFIX.")
end

prepend_path("PATH", pathJoin(prefix, "bin"))
setenv("TESSERA_ROOT", prefix)
