-- The means of a gaveur's group (cluster) for the comparison control of the dashboards (issue 23), and the
-- site means of moyennes_sites() for callers without login (end of file).
--
-- A gaveur reads only his own lots (row-level security, sql/151), so a mean over his group computed under
-- his rights would be a mean of his own lots. This function, like moyennes_sites() (sql/112, 151), reads
-- every lot as its owner and returns only the group-level aggregate:
--   * the group is the gaveur's cluster in the latest successful run of the clustering job;
--   * the caller must be allowed to read that gaveur (the read rule of gaveurs: every row, a limited
--     supervisor's sites, a gaveur himself); asked about another gaveur it returns nothing, so a gaveur
--     cannot learn who is in which group;
--   * the means are over the lots slaughtered in the period by the group's gaveurs (him included), and
--     only where at least three gaveurs of the group contributed: the other members are then at least two,
--     and none of them can be inferred from the mean and the caller's own figures;
--   * no code, name or lot of another gaveur is returned: the group's name, its size and the means.
-- The definitions are those of moyennes_sites() (ITM: corn over liver; sigma and liver weight: means of the
-- lots; mortality: dead over placed ducks), so the two comparisons read alike.
CREATE OR REPLACE FUNCTION moyennes_groupe(p_gaveur_id integer, p_debut date, p_fin date)
RETURNS TABLE (cluster integer, nom_cluster text, nb_gaveurs bigint, nb_lots bigint, itm_moyen numeric,
               sigma_moyen_g numeric, poids_foie_moyen_g numeric, mortalite_pct numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH run AS (
        SELECT run_id FROM job_runs WHERE job = 'clustering' AND statut = 'success'
        ORDER BY fin DESC NULLS LAST, run_id DESC LIMIT 1),
    groupe AS (
        SELECT c.run_id, c.cluster, c.nom_cluster
        FROM clusters_gaveurs c JOIN run USING (run_id) JOIN gaveurs g USING (gaveur_id)
        WHERE c.gaveur_id = p_gaveur_id
          AND (NOT euralis_appel_web() OR euralis_acces_tout()
               OR g.site_code = ANY (euralis_acces_sites()) OR g.gaveur_id = euralis_acces_gaveur()))
    SELECT gr.cluster, gr.nom_cluster, count(DISTINCT l.gaveur_id), count(*),
           round(sum(a.mais_total_kg) / NULLIF(sum(a.poids_foie_total_kg), 0), 2),
           round(avg(a.sigma_g), 1), round(avg(a.poids_foie_moyen_g), 1),
           round(100.0 * sum(l.nb_morts) / NULLIF(sum(l.nb_canards_entres), 0), 2)
    FROM groupe gr
    JOIN clusters_gaveurs c ON c.run_id = gr.run_id AND c.cluster = gr.cluster
    JOIN lots_gavage l ON l.gaveur_id = c.gaveur_id
    JOIN abattages a ON a.lot_id = l.lot_id
    WHERE a.date_abattage BETWEEN p_debut AND p_fin
    GROUP BY gr.cluster, gr.nom_cluster
    HAVING count(DISTINCT l.gaveur_id) >= 3
$$;
REVOKE ALL ON FUNCTION moyennes_groupe(integer, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION moyennes_groupe(integer, date, date) TO euralis_admin, euralis_superviseur, euralis_gaveur,
    euralis_job, euralis_import, euralis_maintenance;
COMMENT ON FUNCTION moyennes_groupe(integer, date, date) IS 'Means of a gaveur''s cluster (latest successful clustering run) over the lots slaughtered in a period, at least 3 contributing gaveurs, only for a gaveur the caller may read (sql/198).';

-- moyennes_sites() (sql/151) answered only a web user with a token, so the comparison control showed no site
-- mean on a page opened without login (one person on his machine, JupyterLab, the tests' owner engine). As
-- performances_sites_lisibles() does, a caller that is no web role (the pipeline, the database's owner, who read
-- every row anyway) now gets every site; web roles keep the sql/151 rule (their token's sites, nothing without).
CREATE OR REPLACE FUNCTION moyennes_sites(p_debut date, p_fin date)
RETURNS TABLE (site_code text, nb_gaveurs bigint, nb_lots bigint, itm_moyen numeric,
               sigma_moyen_g numeric, poids_foie_moyen_g numeric, mortalite_pct numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT l.site_code, count(DISTINCT l.gaveur_id), count(*),
           round(sum(a.mais_total_kg) / NULLIF(sum(a.poids_foie_total_kg), 0), 2),
           round(avg(a.sigma_g), 1), round(avg(a.poids_foie_moyen_g), 1),
           round(100.0 * sum(l.nb_morts) / NULLIF(sum(l.nb_canards_entres), 0), 2)
    FROM lots_gavage l JOIN abattages a USING (lot_id)
    WHERE a.date_abattage BETWEEN p_debut AND p_fin
      AND ((SELECT NOT euralis_appel_web()) OR l.site_code = ANY ((SELECT euralis_sites_lisibles())::text[]))
    GROUP BY l.site_code
    HAVING count(DISTINCT l.gaveur_id) >= 3
$$;
COMMENT ON FUNCTION moyennes_sites(date, date) IS 'Per-site means over slaughtered lots in a period (sites with at least 3 gaveurs): every site for the pipeline and the owner, the sites the kernel token''s user reads for a web role (a gaveur: his own), nothing without a token (sql/198).';
